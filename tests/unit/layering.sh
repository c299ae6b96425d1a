#!/usr/bin/env bash
# Keeps the qcow2 layers one-way (docs/architecture.md, "qcow2 layers"): a file in block/ may
# include its own layer's header and the headers of lower layers, never those of a higher layer
# or of another module on its own level. Every block/qcow2* file must be placed in the table
# below, so a new file cannot slip past. Where the objects are built (BUILD, default build), the
# calls are checked too: every qcow2_* symbol an object needs from another file must come from a
# lower layer (a prototype written by hand would get past the include check, not past this).
# Outside block/, only block/qcow2.h may be included (tests/ excepted: unit tests test the
# layers themselves). Prints one line per violation; exit status 1 if there is any.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT" || exit 2
OBJ=${BUILD:-build}/rel/block

# module, level, its files (the header first). Siblings share a level and may not include each
# other.
LAYERS='
qcow2_file      0 qcow2_file.h qcow2_file.c
qcow2_set       0 qcow2_set.h qcow2_set.c
qcow2_header    1 qcow2_header.h qcow2_header.c
qcow2_cache     1 qcow2_cache.h qcow2_cache.c
qcow2_image     2 qcow2_image.h qcow2_image.c
qcow2_compress  3 qcow2_compress.h qcow2_compress.c
qcow2_refcount  3 qcow2_refcount.h qcow2_refcount.c
qcow2_snapshot  3 qcow2_snapshot.h qcow2_snapshot.c
qcow2_cluster   4 qcow2_cluster.h qcow2_cluster.c
qcow2_writeback 4 qcow2_writeback.h qcow2_writeback.c
qcow2           5 qcow2.h qcow2.c qcow2_open.c qcow2_check.c qcow2_create.c
qcow2_disk      6 qcow2_disk.c
'

declare -A MOD LEVEL
while read -r mod level files; do
	[ -n "$mod" ] || continue
	for f in $files; do
		MOD[$f]=$mod
		LEVEL[$f]=$level
	done
done <<<"$LAYERS"

bad=0
nfiles=0 nincl=0 ncalls=0
fail() {
	echo "layering: $*"
	bad=1
}

for path in block/qcow2*.[ch]; do
	f=${path#block/}
	nfiles=$((nfiles + 1))
	if [ -z "${MOD[$f]:-}" ]; then
		fail "$path is in no qcow2 layer: add it to the table in $0 and to docs/architecture.md"
		continue
	fi
	while IFS=: read -r line hdr; do
		nincl=$((nincl + 1))
		if [ -z "${MOD[$hdr]:-}" ]; then
			fail "$path:$line includes block/$hdr, which is in no qcow2 layer"
		elif [ "${MOD[$hdr]}" != "${MOD[$f]}" ] && [ "${LEVEL[$hdr]}" -ge "${LEVEL[$f]}" ]; then
			fail "$path:$line (layer ${LEVEL[$f]}) includes block/$hdr (layer ${LEVEL[$hdr]}): a layer uses only the layers below it"
		fi
	done < <(grep -n '^[[:space:]]*#[[:space:]]*include[[:space:]]*"block/qcow2[^"]*"' "$path" |
		 sed -E 's/^([0-9]+):.*"block\/([^"]*)".*/\1:\2/')
done

# The rest of the tree sees only the public header.
while IFS= read -r hit; do
	fail "$hit: outside block/, include block/qcow2.h only"
done < <(grep -rnE --include='*.[ch]' '^[[:space:]]*#[[:space:]]*include[[:space:]]*"block/qcow2_[^"]*\.h"' \
	 --exclude-dir=block --exclude-dir=tests --exclude-dir=build . | sed 's|^\./||')

# Calls, from the built objects: who defines each qcow2_* symbol, and who needs it.
objs=()
for path in block/qcow2*.c; do
	objs+=("$OBJ/$(basename "$path" .c).o")
done
if ls "${objs[@]}" >/dev/null 2>&1; then
	declare -A DEF
	for o in "${objs[@]}"; do
		while read -r sym; do
			DEF[$sym]=$(basename "$o" .o).c
		done < <(nm --defined-only -g "$o" | awk '$3 ~ /^qcow2_/ {print $3}')
	done
	for o in "${objs[@]}"; do
		f=$(basename "$o" .o).c
		[ -n "${MOD[$f]:-}" ] || continue
		while read -r sym; do
			d=${DEF[$sym]:-}
			[ -n "$d" ] || continue
			ncalls=$((ncalls + 1))
			if [ "${MOD[$d]}" != "${MOD[$f]}" ] && [ "${LEVEL[$d]}" -ge "${LEVEL[$f]}" ]; then
				fail "block/$f (layer ${LEVEL[$f]}) calls $sym of block/$d (layer ${LEVEL[$d]}): a layer calls only the layers below it"
			fi
		done < <(nm --undefined-only "$o" | awk '$2 ~ /^qcow2_/ {print $2}')
	done
else
	echo "layering: $OBJ/qcow2*.o not built: includes checked, calls not"
fi

if [ $bad = 0 ]; then
	echo "layering: qcow2 layers one-way ($nfiles files, $nincl includes, $ncalls calls between files)"
fi
exit $bad
