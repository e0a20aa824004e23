#!/usr/bin/env bash
# One trip to a GPU machine for the cifar10 recipe: train from the shipped bundle for
# TRAIN_SECONDS, fit the critic to the averaged generator, and leave the run's files in $OUT
# (six files, each under 16 MB) to export here with `cifar10_gan.py export --out THAT_FOLDER`.
#
# Before the trip, here: python python/recipes/cifar10_gan.py pack-data --to .device/cifar --batches 1,2
# (two of the five batches: all five do not fit the 64 MiB a trip carries), with .device ignored
# by git, then run this script there carrying .device. Try it here first:
#   DEVICE=cpu TRAIN_SECONDS=20 OUT=/tmp/trip python/recipes/cifar10_on_device.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
: "${OUT:?set OUT, the folder for the files to bring back}"
device=${DEVICE:-cuda}
data=${DATA:-.device/cifar}
run=${RUN:-/tmp/cifar10-run}
recipe=(python3 python/recipes/cifar10_gan.py)
export PYTHONUNBUFFERED=1
"${recipe[@]}" train --device "$device" --data "$data" --init models/cifar10 --out "$run" \
  --iterations 1000000 --every 2000 --stop-after "${TRAIN_SECONDS:-420}" --threads 8
"${recipe[@]}" fit-critic --device "$device" --data "$data" --out "$run" --fit-steps 800 --every 400 --threads 8
cp "$run"/{state.pt,opt_g.pt,opt_d.pt,training-log.csv,critic-fit-log.csv,critic-fit-800.pt} "$OUT"/
