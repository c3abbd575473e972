#!/usr/bin/env bash
# Times `daneroll tlsa` (release build) over a PEM file of 10,000 certificates against, in the same
# run and on the same certificates, the OpenSSL pipeline
#   openssl x509 -pubkey -noout | openssl pkey -pubin -outform DER | openssl dgst -sha256
# and GnuTLS `danetool --tlsa-rr --load-certificate`, each run once per certificate (on a sample:
# they take milliseconds each). Prints per-certificate times and ratios; asserts nothing about
# time. Needs openssl and gnutls-bin (danetool). Usage: scripts/bench-tlsa.sh [COUNT [SAMPLE]]
set -euo pipefail
export LC_ALL=C
cd "$(dirname "$0")/.."
count="${1:-10000}"
sample="${2:-200}"
runs=5
target="${CARGO_TARGET_DIR:-target}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

now() { date +%s%N; }
per() { awk -v ns="$1" -v n="$2" 'BEGIN { printf "%.2f", ns / n / 1000 }'; } # µs per item
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.0f", a / b }'; }
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

cargo build --release --locked --quiet --bin daneroll
daneroll="$target/release/daneroll"
start=$(now)
DANEROLL_BENCH_WRITE_CERTS="$work/certs.pem" DANEROLL_BENCH_CERTS="$count" \
  cargo bench --locked --quiet --bench tlsa 2>&1 | grep -v '^$' || true
[[ -s "$work/certs.pem" ]] || { echo "no certificates were generated" >&2; exit 1; }
echo "generated $count certificates ($(du -h "$work/certs.pem" | cut -f1)) in $(( ($(now) - start) / 1000000 )) ms"

# daneroll over the whole file: usage 3 (the first certificate) + usage 2 (every other one),
# so every certificate is parsed and hashed once and 10,000 records are printed.
records=$("$daneroll" tlsa --usage 3,2 "$work/certs.pem" | wc -l)
[[ "$records" == "$count" ]] || { echo "daneroll printed $records records, expected $count" >&2; exit 1; }
for _ in $(seq "$runs"); do
  t0=$(now); "$daneroll" tlsa --usage 3,2 "$work/certs.pem" >/dev/null; echo $(( $(now) - t0 ))
done >"$work/daneroll-times"
whole_ns=$(median <"$work/daneroll-times")

# The sample: the first $sample certificates, one file each.
mkdir "$work/sample"
awk -v dir="$work/sample" -v max="$sample" \
  '/-----BEGIN CERTIFICATE-----/ { n++; if (n > max) exit } n { print > (dir "/" n ".pem") }' "$work/certs.pem"
files=("$work"/sample/*.pem)

# Same answers first: the three tools agree on a few certificates.
for f in "${files[@]:0:3}"; do
  ours=$("$daneroll" tlsa "$f" | awk '{ print $4 }')
  theirs=$(openssl x509 -in "$f" -pubkey -noout | openssl pkey -pubin -outform DER | openssl dgst -sha256 -r | awk '{ print toupper($1) }')
  gnutls=$(danetool --tlsa-rr --host mail.example.com --port 25 --load-certificate "$f" | sed -E 's/.* ([0-9a-f]{64}) .*/\1/' | tr a-f A-F)
  [[ "$ours" == "$theirs" && "$ours" == "$gnutls" ]] || { echo "tools disagree on $f: $ours $theirs $gnutls" >&2; exit 1; }
done

t0=$(now)
for f in "${files[@]}"; do
  openssl x509 -in "$f" -pubkey -noout | openssl pkey -pubin -outform DER | openssl dgst -sha256 >/dev/null
done
openssl_ns=$(( $(now) - t0 ))
t0=$(now)
for f in "${files[@]}"; do
  danetool --tlsa-rr --host mail.example.com --port 25 --load-certificate "$f" >/dev/null
done
danetool_ns=$(( $(now) - t0 ))
t0=$(now)
for f in "${files[@]}"; do "$daneroll" tlsa "$f" >/dev/null; done
spawn_ns=$(( $(now) - t0 ))

ours=$(per "$whole_ns" "$count")
echo
echo "per certificate (daneroll: median of $runs runs over $count; others: $sample runs, one per certificate)"
printf '  %-58s %10s µs\n' "daneroll tlsa, one run over the $count-certificate file" "$ours"
printf '  %-58s %10s µs  (%sx daneroll)\n' "openssl x509 | openssl pkey | openssl dgst, per certificate" \
  "$(per "$openssl_ns" "$sample")" "$(ratio "$(per "$openssl_ns" "$sample")" "$ours")"
printf '  %-58s %10s µs  (%sx daneroll)\n' "danetool --tlsa-rr --load-certificate, per certificate" \
  "$(per "$danetool_ns" "$sample")" "$(ratio "$(per "$danetool_ns" "$sample")" "$ours")"
printf '  %-58s %10s µs  (%sx danetool speed)\n' "daneroll tlsa, one process per certificate" \
  "$(per "$spawn_ns" "$sample")" \
  "$(awk -v d="$danetool_ns" -v s="$spawn_ns" 'BEGIN { printf "%.1f", d / s }')"
echo "  whole file: $(( whole_ns / 1000000 )) ms for $count certificates ($(awk -v ns="$whole_ns" -v n="$count" 'BEGIN { printf "%.0f", n / (ns / 1e9) }') certificates/s)"
