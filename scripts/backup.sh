#!/usr/bin/env bash
# Back up the portal: the PostgreSQL database, then the stored images (radiographs, de-identified
# DICOMs, heatmaps), into a new timestamped folder with checksums.
#
#   DATABASE_URL=postgres://... MEDIA_ROOT=/data/uploads scripts/backup.sh /backups
#
# The database is dumped first and the images second: images are written before their row
# exists, so every row in the dump has its file in the archive (an image newer than the dump is
# only an unreferenced extra). Needs pg_dump of the server's major version (or newer), tar and
# sha256sum. Prints the folder it wrote. With S3 storage, back up the bucket with its own tools
# (versioning or replication) and run this with BACKUP_SKIP_MEDIA=1.
set -euo pipefail

dest=${1:?usage: scripts/backup.sh DEST_DIR}
: "${DATABASE_URL:?set DATABASE_URL}"
media=${MEDIA_ROOT:-var/uploads}

stamp=$(date -u +%Y%m%dT%H%M%SZ)
out="$dest/portal-$stamp"
mkdir -p "$out"
chmod 700 "$out"  # patient data: readable by the backup operator only

pg_dump --format=custom --no-owner --no-privileges --dbname="$DATABASE_URL" \
  --file="$out/database.dump"

files=(database.dump)
if [ "${BACKUP_SKIP_MEDIA:-0}" != "1" ]; then
  mkdir -p "$media"
  tar -C "$media" --exclude='./health' -czf "$out/uploads.tar.gz" .
  files+=(uploads.tar.gz)
fi

(cd "$out" && sha256sum "${files[@]}" > SHA256SUMS)
echo "$out"
