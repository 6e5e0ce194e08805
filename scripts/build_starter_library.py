"""Build the starter reference library (``models/starter``) from the benchmark corpus.

The corpus (``../shared/corpus/build_corpus.sh``) holds freely licensed, professionally
produced tracks from Debian's archive. The mastered ones are analysed and kept as profiles;
the unmastered stem sums and the clipped stress case are left out. The audio is not
copied: a profile holds measurements only, and says where the track comes from and under
which licence.

    python scripts/build_starter_library.py /path/to/corpus
"""

from __future__ import annotations

import argparse
import csv
import shutil
from pathlib import Path

from matcher.jobs import analyze_file
from matcher.library.store import Library, Profile, file_sha256, starter_library_dir, today
from matcher.library.styles import make_styles, save_styles

LEFT_OUT = {
    "dev_muldjord_chaos_god.wav": "unmastered stem sum",
    "dev_muldjord_mutilated_mime.wav": "unmastered stem sum",
    "dev_stk_skyvibe_high_frequency.wav": "clipped, hyper-compressed stress case",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus_dir", type=Path)
    args = parser.parse_args()
    root = starter_library_dir()
    for old in (root / "profiles", root / "index.npz", root / "styles.json"):
        if old.is_dir():
            shutil.rmtree(old)
        else:
            old.unlink(missing_ok=True)
    library = Library(root)
    with open(args.corpus_dir / "manifest.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    for row in rows:
        if row["file"] in LEFT_OUT:
            continue
        path = args.corpus_dir / row["file"]
        _, analysis = analyze_file(path)
        source = (
            f"\"{row['title']}\" by {row['artist']} ({row['license']}), Debian package "
            f"{row['source_package']} {row['package_version']}: {row['source_path'].lstrip('./')}"
        )
        tags = ("starter", *(t.strip() for t in row["style"].replace("(", "/").replace(")", "").split("/") if t.strip()))
        name = row["file"].removeprefix("dev_").removesuffix(".wav")
        (stored,) = library.add([Profile(name, file_sha256(path), source, tags, today(), analysis)])
        print(f"{stored.name}: {source}")
    styles = make_styles(library)
    save_styles(library, styles)
    print("styles:", ", ".join(f"{s.name} ({len(s.members)})" for s in styles.styles))


if __name__ == "__main__":
    main()
