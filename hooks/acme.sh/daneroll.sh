#!/usr/bin/env sh
# acme.sh deploy hook: install as ~/.acme.sh/deploy/daneroll.sh and enable with
#   acme.sh --deploy -d DOMAIN [--ecc] --deploy-hook daneroll
# acme.sh sources this file in a subshell and calls daneroll_deploy with
# _cdomain _ckey _ccert _cca _cfullchain _cpfx; a non-zero return is a failed deploy.
# Le_Alt (the other names, or "no") is not exported by acme.sh, so it is passed on here.

daneroll_deploy() {
  DANEROLL_ACMESH_ALT="${Le_Alt:-}" daneroll hook acme.sh "$@"
  return $?
}
