#!/bin/sh
# One recipe row of the issue 9 table: the bviews command (published recipe + class- and
# view-balanced sampling, source-grouped 5-fold CV at 128 px) trained on cxr3 **and cxr-cases**
# (the case collections where one source gives COVID-19 and other pneumonias), cxr-multi (one
# source per class) still only read, plus extra options. Tenth session (SHIP_RULE.md).
#
#   scripts/cases_row.sh fold NAME K [options]   # train fold K (0..4); two such jobs at a time
#   scripts/cases_row.sh merge NAME [options]    # the row, then its TTA row NAME-tta
#
# Needs runs/Data_Entry_2017_v2020.csv.gz (see scripts/bviews_row.sh).
set -e
cd "$(dirname "$0")/.."
what=$1; name=$2; shift 2
base="--size 128 --threads 1 --folds 5 --split sources --aug published --norm imagenet --margin 0 \
--equalize none --epochs 30 --data ../shared/datasets/cxr3 --data ../shared/datasets/cxr-cases \
--eval-data ../shared/datasets/cxr-multi --sampling source-sqrt --views runs/Data_Entry_2017_v2020.csv.gz"
. scripts/recipe_row.sh
