#!/usr/bin/env bash
# Spark GPU discovery script: prints the GPUs this executor may use as the JSON Spark expects,
#   {"name": "gpu", "addresses": ["0", "1"]}
# Spark runs it once when an executor starts (spark.executor.resource.gpu.discoveryScript) and hands each task
# some of these addresses. Neither YARN nor Kubernetes tells the executor which GPUs it got: both isolate them
# (cgroups or the NVIDIA container runtime), and this script reports what is left visible.
#
#   NVIDIA_VISIBLE_DEVICES  set by the NVIDIA container runtime and Kubernetes' device plugin ("all", "none",
#                           "void", or indices/UUIDs such as GPU-8c3f...). When nvidia-smi lists exactly as many
#                           GPUs as it names, the runtime has already mounted just those (renumbered from 0) and
#                           they are all kept; otherwise only the GPUs whose index or UUID it names are kept.
#   CUDA_VISIBLE_DEVICES    restricts what a CUDA program in this process sees (nvidia-smi ignores it). CUDA
#                           renumbers the GPUs it names from 0, in its order, up to the first entry that names no
#                           GPU; the addresses printed are then those CUDA device ordinals, 0 to m-1.
#
# Exit status 1, with the reason on stderr, when nvidia-smi is missing or fails, or no GPU is visible.
set -euo pipefail

me="${0##*/}"
fail() {
  echo "$me: $*" >&2
  exit 1
}

command -v nvidia-smi >/dev/null 2>&1 \
  || fail "Cannot discover GPUs: nvidia-smi is not on PATH ($PATH); install the NVIDIA driver utilities on the node (or in the container image), or do not request spark.executor.resource.gpu.amount"

if ! listing="$(nvidia-smi --query-gpu=index,uuid --format=csv,noheader 2>&1)"; then
  fail "Cannot discover GPUs: nvidia-smi --query-gpu=index,uuid --format=csv,noheader failed: $listing"
fi

# index and UUID of every GPU nvidia-smi lists, one "index uuid" pair per line
indices=()
uuids=()
while IFS=',' read -r index uuid; do
  index="${index//[[:space:]]/}"
  uuid="${uuid//[[:space:]]/}"
  [ -z "$index" ] && continue
  [[ "$index" =~ ^[0-9]+$ ]] || fail "Cannot discover GPUs: unexpected nvidia-smi output line '$index,$uuid'"
  indices+=("$index")
  uuids+=("$uuid")
done <<<"$listing"

# named POSITION LIST: is the GPU at POSITION named (by index or UUID) in the comma-separated LIST?
named() {
  local entry
  IFS=',' read -r -a entries <<<"$2"
  for entry in "${entries[@]}"; do
    entry="${entry//[[:space:]]/}"
    if [ "$entry" = "${indices[$1]}" ] || [ "$entry" = "${uuids[$1]}" ]; then
      return 0
    fi
  done
  return 1
}

# The GPUs left after NVIDIA_VISIBLE_DEVICES, as positions in the listing.
visible=()
for i in "${!indices[@]}"; do visible+=("$i"); done
if [ "${NVIDIA_VISIBLE_DEVICES+set}" = set ]; then
  case "${NVIDIA_VISIBLE_DEVICES//[[:space:]]/}" in
    all) ;;
    none | void | "") visible=() ;;
    *)
      IFS=',' read -r -a wanted <<<"$NVIDIA_VISIBLE_DEVICES"
      if [ "${#wanted[@]}" -ne "${#indices[@]}" ]; then
        kept=()
        for i in "${visible[@]}"; do
          if named "$i" "$NVIDIA_VISIBLE_DEVICES"; then kept+=("$i"); fi
        done
        visible=("${kept[@]+"${kept[@]}"}")
      fi
      ;;
  esac
fi

addresses=()
if [ "${CUDA_VISIBLE_DEVICES+set}" = set ]; then
  # CUDA's rule: the GPUs named, in the order named, up to the first entry that names none of them.
  IFS=',' read -r -a wanted <<<"$CUDA_VISIBLE_DEVICES"
  ordinal=0
  for entry in "${wanted[@]+"${wanted[@]}"}"; do
    entry="${entry//[[:space:]]/}"
    found=""
    for i in "${visible[@]+"${visible[@]}"}"; do
      if [ "$entry" = "${indices[$i]}" ] || [ "$entry" = "${uuids[$i]}" ]; then found="$i"; fi
    done
    [ -z "$found" ] && break
    addresses+=("$ordinal")
    ordinal=$((ordinal + 1))
  done
else
  for i in "${visible[@]+"${visible[@]}"}"; do addresses+=("${indices[$i]}"); done
fi

if [ "${#addresses[@]}" -eq 0 ]; then
  fail "Cannot discover GPUs: none visible (nvidia-smi lists ${#indices[@]};" \
    "NVIDIA_VISIBLE_DEVICES=${NVIDIA_VISIBLE_DEVICES-<unset>}, CUDA_VISIBLE_DEVICES=${CUDA_VISIBLE_DEVICES-<unset>})"
fi

json=""
for a in "${addresses[@]}"; do json="${json:+$json, }\"$a\""; done
printf '{"name": "gpu", "addresses": [%s]}\n' "$json"
