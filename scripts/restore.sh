#!/usr/bin/env bash
# Restore a backup made by scripts/backup.sh into an EMPTY database and an uploads folder.
#
#   createdb portal_restored
#   DATABASE_URL=postgres://.../portal_restored MEDIA_ROOT=/data/uploads \
#     scripts/restore.sh /backups/portal-20260101T020000Z
#
# Checks the checksums first, refuses a database that already has the portal's tables (restore
# into a fresh one, then switch DATABASE_URL), restores in one transaction (all or nothing), then
# unpacks the images. Afterwards run `python manage.py migrate` (a backup from an older release
# is brought up to date) and start the workers: screenings that were queued at backup time are
# picked up again by the sweeper.
set -euo pipefail

src=${1:?usage: scripts/restore.sh BACKUP_DIR}
: "${DATABASE_URL:?set DATABASE_URL}"
media=${MEDIA_ROOT:-var/uploads}

(cd "$src" && sha256sum --check --quiet SHA256SUMS)

existing=$(psql --dbname="$DATABASE_URL" -XAtc \
  "SELECT count(*) FROM information_schema.tables WHERE table_name = 'screening_screening'")
if [ "$existing" != "0" ]; then
  echo "restore.sh: the target database already has portal tables; restore into an empty one" >&2
  exit 2
fi

pg_restore --no-owner --no-privileges --exit-on-error --single-transaction \
  --dbname="$DATABASE_URL" "$src/database.dump"

if [ -f "$src/uploads.tar.gz" ]; then
  mkdir -p "$media"
  tar -C "$media" -xzf "$src/uploads.tar.gz"
fi
echo "restored $src"
