#!/bin/sh
# Writes the spate(1) man page to stdout: a few hand-written sections, then
# each command's own --help, so the flags listed can never drift from the
# binary. Run at build time (packaging/CMakeLists.txt).
# Usage: packaging/man.sh SPATE_BINARY VERSION [OUT]   (default: stdout)
set -eu
spate=$1
version=$2
if [ $# -ge 3 ]; then exec >"$3"; fi

# Help text as literal groff: backslashes and hyphens escaped (a bare '-' may
# render as a hyphen that breaks copy-paste of flags), lines starting with a
# control character defused.
lit() {
  sed -e 's/\\/\\e/g' -e 's/-/\\-/g' -e "s/^\\([.']\\)/\\\\\\&\\1/"
}

cat <<EOF
.TH SPATE 1 "" "spate $version" "User Commands"
.SH NAME
spate \\- peer-to-peer binary distribution for fleets
.SH SYNOPSIS
.B spate
.I COMMAND
.RI [ options ]
.br
.B spate \\-\\-version
.SH DESCRIPTION
CI uploads a build artifact once to the seeder; every server's fetcher
fetches it over BitTorrent from nearby peers (same rack first), verifies every
byte against a signed manifest, installs it atomically and reports to the
tracker, which runs pushes in waves and answers
.BR "spate push" .
.PP
One binary holds every component; each is a
.IR COMMAND .
.B spate
.I COMMAND
.B \\-\\-help
lists its flags; they are reproduced below.
.SH COMMANDS
.nf
EOF
"$spate" --help | sed -n 's/^  \([a-z]\)/\1/p' | lit
cat <<EOF
.fi
.SH CONFIGURATION FILES
The daemons
.RB ( "spate tracker" ,
.BR "spate seeder" ,
.BR "spate fetcher" )
take
.B \\-\\-config
.IR FILE :
one setting per line, named like the long flag without its dashes, as
.I key = value
or
.IR "key value" .
A switch is on when named alone or set to true, off when set to false.
.B #
starts a comment at the start of a line or after a space; quote a value
("..." or '...') to keep spaces or a # in it.
Flags on the command line win over the file.
An unknown key is an error naming the file and line.
The packaged units read
.IR /etc/spate/tracker.conf ,
.I seeder.conf
and
.IR fetcher.conf ;
commented samples are in
.IR /usr/share/doc/spate/examples/ .
.SH FILES
.TP
.I /etc/spate/
configuration, the rackmap and the seeder's public key (root:spate, 0750: the
files may hold tokens)
.TP
.I /var/lib/spate/tracker/, /var/lib/spate/seeder/, /var/lib/spate/fetcher/
each daemon's state (the units' StateDirectory=)
.TP
.I /srv/releases/
the fetcher's install root:
.IR NAME / VERSION /
and the
.IR NAME /current
link
.TP
.I /usr/lib/systemd/system/spate-{tracker,seeder,fetcher}.service
the units
.SH ENVIRONMENT
.TP
.B SPATE_ADMIN_TOKEN
admin token of the tracker, and of the seeder registering with it
.TP
.B SPATE_UPLOAD_TOKEN
token uploads carry (spate upload, spate seeder)
.TP
.B SPATE_TRACKER
tracker URL of the release manager's commands
.TP
.B SPATE_USER
who started a push (else \$USER@hostname)
.SH EXIT STATUS
0: done (for push and rollback: every targeted host installed it);
1: the job failed; 2: bad flags or configuration; 130: interrupted.
.SH OPTIONS
EOF
host=$(hostname 2>/dev/null || true)
for c in tracker seeder fetcher upload push rollback pushes fleet rackmap; do
  echo ".SS spate $c"
  echo ".nf"
  # The fetcher's --host-id default is the hostname of wherever this ran.
  "$spate" "$c" --help | sed -e "/--host-id/s/(default: $host)/(default: the hostname)/" | lit
  echo ".fi"
done
cat <<EOF
.SH SEE ALSO
.BR systemctl (1),
.BR journalctl (1)
EOF
