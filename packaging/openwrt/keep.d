/etc/xmpp-extauth/
