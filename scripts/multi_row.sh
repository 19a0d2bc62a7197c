#!/bin/sh
# One multi-source recipe row of the issue 9 table: the `multi` command (all three data sets,
# sqrt source-balanced sampling, 8 epochs, source-grouped 5-fold CV at 128 px) plus extra options.
#
#   scripts/multi_row.sh fold NAME K [options]   # train fold K (0..4); two such jobs at a time
#   scripts/multi_row.sh merge NAME [options]    # the row, then its TTA row NAME-tta (the three
#                                                # served views), both merged into reports/recipes
#   e.g. scripts/multi_row.sh fold multi-224 0 --size 224   (a later --size overrides 128)
set -e
cd "$(dirname "$0")/.."
what=$1; name=$2; shift 2
base="--size 128 --threads 1 --folds 5 --split sources --aug published --norm imagenet --margin 0 \
--equalize none --epochs 8 --data ../shared/datasets/cxr3 --data ../shared/datasets/cxr-multi \
--data ../shared/datasets/cxr-cases --sampling source-sqrt"
. scripts/recipe_row.sh
