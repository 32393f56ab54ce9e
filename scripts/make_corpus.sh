#!/usr/bin/env bash
# make_corpus.sh [OUTDIR] -- build the README demo's corpus from the King James Bible.
#
# Source: Debian package bible-kjv (public domain text), dumped with
#   bible -f 'Gen1:1-Rev22:21'
# which prints one verse per line, e.g. "Ge1:1 In the beginning God created ...".
#
# Processing (sed/awk/tr only, LC_ALL=C, fully deterministic):
#   * the verse reference ("Ge1:1", "1Sa3:4", ...) is stripped;
#   * text is lowercased;
#   * punctuation , . ; : ? ! ( ) and "--" become separate tokens ("earth." -> "earth .");
#   * possessives are split: "king's" -> "king 's", "sons'" -> "sons '";
#     intra-word hyphens are kept ("loving-kindness");
#   * one verse per line, tokens separated by single spaces (no <eos>: the reader adds it).
#
# Split (by verse number n = 1..31102 in canonical order):
#   n % 20 == 0  -> valid.txt   (verses 20, 40, 60, ...)
#   n % 20 == 1  -> test.txt    (verses 1, 21, 41, ...)
#   otherwise    -> train.txt   (90%)
#
# Default OUTDIR is data/kjv (git-ignored; never commit the output).
set -euo pipefail
export LC_ALL=C

outdir=${1:-data/kjv}

if ! command -v bible >/dev/null 2>&1; then
    echo "make_corpus.sh: 'bible' not found; install Debian package bible-kjv (see scripts/setup.sh)" >&2
    exit 1
fi

mkdir -p "$outdir"
tmp=$(mktemp -d "${outdir%/}/.make_corpus.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# Dump everything; -f turns pretty-printing off (one "Ref text" line per verse).
bible -f 'Gen1:1-Rev22:21' > "$tmp/raw.txt"

sed -E \
    -e 's/^[^ ]+ +//' \
    -e 's/--/ -- /g' \
    -e 's/([,.;:?!()])/ \1 /g' \
    -e "s/'s( |\$)/ 's\\1/g" \
    -e "s/([A-Za-z])'( |\$)/\\1 '\\2/g" \
    -e 's/[[:space:]]+/ /g' \
    -e 's/^ //' -e 's/ $//' \
    "$tmp/raw.txt" | tr '[:upper:]' '[:lower:]' > "$tmp/all.txt"

nverses=$(wc -l < "$tmp/all.txt")
if [ "$nverses" -ne 31102 ]; then
    echo "make_corpus.sh: expected 31102 verses from bible-kjv, got $nverses" >&2
    exit 1
fi

awk -v dir="$tmp" '
    NF == 0      { next }
    NR % 20 == 0 { print > (dir "/valid.txt"); next }
    NR % 20 == 1 { print > (dir "/test.txt");  next }
                 { print > (dir "/train.txt") }
' "$tmp/all.txt"

for f in train valid test; do
    mv -f "$tmp/$f.txt" "$outdir/$f.txt"
done

for f in train valid test; do
    awk -v name="$outdir/$f.txt" '
        { lines++; toks += NF; for (i = 1; i <= NF; i++) v[$i] = 1 }
        END { n = 0; for (w in v) n++
              printf "%-22s %6d lines %8d tokens %6d distinct words\n", name, lines, toks, n }
    ' "$outdir/$f.txt"
done
