#!/bin/sh
# dehydrated hook: set HOOK=/etc/dehydrated/hooks/daneroll-hook.sh (mode 0755) in the config.
# dehydrated calls HOOK HANDLER ARGS...; daneroll acts on deploy_cert and exits 0 for every
# other handler. To chain another hook, call it first and then this one.
exec daneroll hook dehydrated "$@"
