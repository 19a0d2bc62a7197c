#!/bin/sh
# The fast profile (issue 14, SHIP_RULE.md, eleventh session): the fifth session's 128 px fold
# models (bviews + bviews-mask-r, ten members, kept in git at 78e2a9c) read with ONE view and the
# shipped weighting (1:2 towards the lung mask): ~1/9 of the shipped model's arithmetic, for a
# site short of cores. Never the default; an operator points INFERENCE_WEIGHTS at it:
#
#   scripts/fast_profile.sh [DIR]     # default runs/fast-profile; then
#   INFERENCE_WEIGHTS=$PWD/runs/fast-profile/darkcovidnet.safetensors make run   (or the workers)
#
# Rebuilds the row bviews-mixw from the committed fold JSONs and exports it (calibration and band
# thresholds fitted on its own out-of-fold predictions; the row's report is rewritten with the
# same numbers and the current commit). Needs the git history (a clone, not an archive) and
# runs/Data_Entry_2017_v2020.csv.gz (see scripts/bviews_row.sh). Check it serves its row:
#   .venv/bin/python -m scripts.served_vs_folds --weights DIR/darkcovidnet.safetensors --row reports/recipes/bviews-mixw
set -e
cd "$(dirname "$0")/.."
dst=${1:-runs/fast-profile}
py=.venv/bin/python
old=runs/fast-profile-src
mkdir -p "$old" "$dst"
git show 78e2a9c:inference/weights/darkcovidnet.safetensors > "$old/darkcovidnet.safetensors"
git show 78e2a9c:inference/weights/darkcovidnet.json > "$old/darkcovidnet.json"
$py -m scripts.unpack_ensemble --weights "$old/darkcovidnet.safetensors" \
  --rows reports/recipes/bviews-tta reports/recipes/bviews-mask-r-tta
# The same fold models without the views: the -tta rows only re-read them with three views.
for k in 0 1 2 3 4; do
  cp reports/recipes/bviews-tta/folds/fold-$k.safetensors reports/recipes/bviews/folds/
  cp reports/recipes/bviews-mask-r-tta/folds/fold-$k.safetensors reports/recipes/bviews-mask-r/folds/
done
$py -m scripts.mix_rows --rows reports/recipes/bviews reports/recipes/bviews-mask-r \
  --dst reports/recipes/bviews-mixw --weights 1 2
cp inference/weights/lungs.safetensors inference/weights/lungs.json "$dst/"
scripts/bviews_row.sh export bviews-mixw "$dst"
