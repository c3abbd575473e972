#!/bin/sh
# lego hook: lego ... run --run-hook=/usr/local/lib/daneroll/lego-hook.sh
#            lego ... renew --reuse-key --renew-hook=/usr/local/lib/daneroll/lego-hook.sh
# lego 4 sets LEGO_CERT_DOMAIN/LEGO_CERT_PATH/LEGO_CERT_KEY_PATH, lego 5 LEGO_HOOK_CERT_*.
exec daneroll hook lego
