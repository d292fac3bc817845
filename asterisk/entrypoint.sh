#!/bin/sh
# Writes the AMI secret from the environment into manager.conf, then runs Asterisk in the foreground.
set -eu

: "${AMI_SECRET:?AMI_SECRET must be set: a long random string shared with Huibo's AMI listener}"
if [ "${#AMI_SECRET}" -lt 16 ]; then
    echo "AMI_SECRET must be at least 16 characters" >&2
    exit 1
fi
case "$AMI_SECRET" in
    *[!A-Za-z0-9._~+=-]*)
        # keeps the value safe inside manager.conf and the sed expression below
        echo "AMI_SECRET may contain only letters, digits and . _ ~ + = -" >&2
        exit 1
        ;;
esac

sed "s|@AMI_SECRET@|${AMI_SECRET}|" /etc/asterisk/manager.conf.template > /etc/asterisk/manager.conf
chown asterisk:asterisk /etc/asterisk/manager.conf
chmod 0640 /etc/asterisk/manager.conf

exec /usr/sbin/asterisk -f -U asterisk -G asterisk -vvv
