# The body shared by scripts/bviews_row.sh and scripts/multi_row.sh (sourced, not run): each sets
# $what, $name, $base (its recipe's train arguments) and leaves the extra options in "$@".
#   fold: train fold K of the row; merge: the row, then its TTA row NAME-tta (the three served
#   views), both merged into reports/recipes; final: the row's recipe on every film of --data
#   (NAME/final/model.safetensors; the CV's fold models never see their validation films, this
#   one sees them all); export: the finished row merged again with --export-ensemble into the
#   weights directory given after NAME (a mixed row takes its first row's script).
py=.venv/bin/python
if [ "$what" = export ]; then
  dir=$1; shift
  exec $py -m inference.train $base "$@" --out "reports/recipes/$name" --export-ensemble --weights-dir "$dir"
fi
if [ "$what" = fold ]; then
  k=$1; shift
  exec $py -m inference.train $base "$@" --out "reports/recipes/$name" --only-fold "$k"
fi
if [ "$what" = final ]; then
  exec $py -m inference.train $base "$@" --out "reports/recipes/$name" --only-final
fi
$py -m inference.train $base "$@" --out "reports/recipes/$name"
$py -m scripts.tta_eval --src "reports/recipes/$name" --dst "reports/recipes/$name-tta" \
  --views identity zoom1.04 zoom1.08 -- $base "$@"
$py -m inference.train $base "$@" --out "reports/recipes/$name-tta"
