#!/bin/sh
# keepalived notify hook for the pgsplit VIP: logs every state change to the
# journal/syslog. Extend it to page someone, or to push an annotation to
# Grafana. Arguments: TYPE NAME STATE PRIORITY.
# Install: cp pgsplit-notify.sh /etc/keepalived/ && chmod 755 /etc/keepalived/pgsplit-notify.sh
state="$3"
logger -t pgsplit-vip "keepalived: $1 $2 is now $state (priority $4) on $(hostname)"
case "$state" in
  MASTER) logger -t pgsplit-vip "this node now holds the pgsplit VIP" ;;
  FAULT)  logger -t pgsplit-vip "pgsplit check failing here; VIP released" ;;
esac
exit 0
