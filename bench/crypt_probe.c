/* crypt_probe: libxcrypt crypt_r() verifications per second on one core, on the same
 * (password, hash) pairs hashbench verifies in-process (bench/README.md).
 * usage: crypt_probe FILE 6|5 SECONDS LABEL     FILE: PASSWORD<TAB>$6$...<TAB>$5$... lines
 * Prints `LABEL<TAB>verif_s=...<TAB>cpu_us=...` (wall-clock rate; on-CPU µs per verification). Build: cc -O2 crypt_probe.c -lcrypt */
#define _GNU_SOURCE
#include <crypt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAXP 256

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    static char pw[MAXP][128], hash[MAXP][256];
    static struct crypt_data cd;
    char line[1024];
    int n = 0;
    if (argc != 5) {
        fprintf(stderr, "usage: crypt_probe FILE 6|5 SECONDS LABEL\n");
        return 2;
    }
    int col = atoi(argv[2]) == 5 ? 2 : 1;
    double secs = atof(argv[3]);
    FILE *f = fopen(argv[1], "r");
    if (!f) { perror(argv[1]); return 1; }
    while (n < MAXP && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = 0;
        char *fld[3] = {line, NULL, NULL};
        for (int i = 1; i < 3; i++) {
            char *t = fld[i - 1] ? strchr(fld[i - 1], '\t') : NULL;
            if (t) { *t = 0; fld[i] = t + 1; }
        }
        if (!fld[2] || strlen(fld[0]) >= 128 || strlen(fld[col]) >= 256) continue;
        strcpy(pw[n], fld[0]);
        strcpy(hash[n], fld[col]);
        n++;
    }
    fclose(f);
    if (n == 0) { fprintf(stderr, "crypt_probe: no pairs\n"); return 1; }
    long count = 0;
    struct timespec c0, c1;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c0);
    double t0 = now(), t;
    do {
        int i = count % n;
        char *r = crypt_r(pw[i], hash[i], &cd);
        if (!r || strcmp(r, hash[i]) != 0) { fprintf(stderr, "crypt_probe: mismatch\n"); return 1; }
        count++;
    } while ((t = now() - t0) < secs);
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c1);
    double cpu = (c1.tv_sec - c0.tv_sec) + (c1.tv_nsec - c0.tv_nsec) / 1e9;
    printf("%s\tverif_s=%.1f\tcpu_us=%.1f\n", argv[4], count / t, cpu * 1e6 / count);
    return 0;
}
