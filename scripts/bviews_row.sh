#!/bin/sh
# One recipe row of the issue 9 table: the bviews command (published recipe + class- and
# view-balanced sampling, cxr3 only, source-grouped 5-fold CV at 128 px) plus extra options.
#
#   scripts/bviews_row.sh fold NAME K [options]   # train fold K (0..4); two such jobs at a time
#   scripts/bviews_row.sh merge NAME [options]    # the row, then its TTA row NAME-tta (the three
#                                                 # served views), both merged into reports/recipes
#   scripts/bviews_row.sh final NAME [options]    # the recipe on every cxr3 film (NAME/final/)
#   scripts/bviews_row.sh export NAME DIR [options]  # the row's fold models as one ensemble in DIR
#   e.g. scripts/bviews_row.sh fold bviews-224 0 --size 224   (a later --size overrides 128)
#
# Needs runs/Data_Entry_2017_v2020.csv.gz (NIH's metadata, from the torchxrayvision wheel:
# pip download --no-deps torchxrayvision; unzip torchxrayvision/data/Data_Entry_2017_v2020.csv.gz).
set -e
cd "$(dirname "$0")/.."
what=$1; name=$2; shift 2
base="--size 128 --threads 1 --folds 5 --split sources --aug published --norm imagenet --margin 0 \
--equalize none --epochs 30 --data ../shared/datasets/cxr3 --eval-data ../shared/datasets/cxr-multi \
--eval-data ../shared/datasets/cxr-cases --sampling source-sqrt --views runs/Data_Entry_2017_v2020.csv.gz"
. scripts/recipe_row.sh
