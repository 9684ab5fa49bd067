"""From signature image files on disk to a manifest: one checked row per usable image.

Every later step (preprocessing, pairs, training, evaluation) reads a pandas DataFrame, the
*manifest*, instead of walking folders itself. Building it is the one place where the files are
opened, so it is also where broken files are found: an empty, truncated or blank scan is skipped
here with a log line that names it, not discovered as a TensorFlow stack trace halfway through an
epoch.

    manifest = load_dataset("data/cedar")
    splits = split_writers(manifest, val=0.15, test=0.15, seed=0)
    train = limit_references(splits["train"], n=12, seed=0)

Layouts, tried from the most specific to the most permissive; the first that explains more than
half of the image files is used, and the files it does not explain are skipped:

    cedar     full_org/original_<w>_<n>.png         genuine sample <n> of writer <w>
              full_forg/forgeries_<w>_<n>.png       skilled forgery of writer <w>
    bhsig     [Bengali|Hindi/]<w>/B-S-<w>-G-<nn>.tif   genuine (H-S-... for Hindi);
              ...-F-<nn>.tif forged; writer ids are "B-<w>" / "H-<w>" so the scripts never merge.
    generic   <writer>/genuine/<file>               for your own scans
              <writer>/forged/<file>                (forgeries/, forgery/ and forg/ work too;
                                                    folder names are case-insensitive)
    kaggle    [<split>/]<writer>/<file>             genuine (e.g. train/001/001_01.PNG)
              [<split>/]<writer>_forg/<file>        forgeries of <writer> (e.g. train/001_forg/...)
              Kaggle copies hold the same images in train/ and test/; see "Duplicates".

When no layout explains the files but they all sit in one folder one level down (a download's
own top folder, e.g. Kaggle's `sign_data/` with its `train/`, `test/` and CSVs), that folder is
read instead, with a warning naming it. Files that are not images (CSVs, README.txt) are ignored.

Image files are .png .jpg .jpeg .bmp .tif .tiff in any letter case; hidden files, hidden folders
and __MACOSX/ are ignored. Symbolic links are followed (a folder whose full_org/ and full_forg/
are links to a CEDAR copy reads like that copy); a link to a folder that holds it is refused.
A writer's id is always a string ("1", "001", "B-12"); the sample id is the number in the file
name (cedar, bhsig) or the file stem (kaggle, generic), made unique within a writer's genuine or
forged set by falling back to the relative path if two files share a stem.

Checks, each a logged skip (or, with strict=True, a DatasetError naming every bad file):

* empty file, a file Pillow cannot identify (e.g. an HTML page saved as .png), a file that fails
  to decode completely (truncated PNG) -- every image is fully decoded with `Image.load()`;
* smaller than 8x8 pixels;
* larger than `max_pixels`, refused from the header size before any pixel is decoded (Pillow's
  own decompression-bomb limit is switched off during the scan, so this limit is the one);
* a blank page. Each image is first made "ink on white" (`ink_on_white`: 16-bit scaled to 8
  bits, transparency composited over white, strokes drawn only through alpha read as ink). A
  pixel is ink when it is at least max(12, 4 sigma) grey levels from the paper (the median grey,
  sigma from the median absolute deviation); the page is blank when ink covers less than 0.02 %
  of it (or fewer than 5 pixels). So a noisy empty scan is blank at any noise level, while faint
  ink and a small signature on a big page are not; `sigkit.datasets.ink` says why.
* after the file checks, a writer with fewer than `min_genuine` genuine samples is dropped whole.

Every dropped file is listed in `manifest.attrs["skipped"]` as {"path", "reason"}.

Duplicates: files with identical bytes (sha1) are one image. The first in sorted path order is
kept and the others dropped with one summary warning (DuplicateImagesWarning), so an image never
lands in two splits -- Kaggle's train/ and test/ share images.

TIFF, the documented fallback: TensorFlow has no TIFF decoder (and its BMP decoder rejects 1- and
4-bit, RLE-compressed and palette BMPs; CMYK JPEGs fail too), so such files are transcoded once
with Pillow to an 8- or 16-bit PNG in a cache folder, named by the sha1 of the original file and
reused on the next load. The manifest's `decode_path` points at that PNG; for every other file it
equals `path`. The cache folder is `cache_dir`, else `$SIGKIT_CACHE/tiff`, else
`~/.cache/sigkit/tiff`.

The package, upstream to downstream: `layouts` (which file is whose) and `checks` (is it a usable
image; with `ink`, the blank-page test) feed `manifest` (`load_folder`, one folder), which
`corpora` calls once per corpus to read several as one; `sources` holds `load_dataset`, the one
entry, which reads what a data parameter names through either; `splits` divides the result;
`errors` holds the exception types they share.
"""

from sigkit.datasets.checks import default_cache_dir
from sigkit.datasets.corpora import corpus_counts, load_corpora
from sigkit.datasets.errors import DatasetError, DuplicateImagesWarning
from sigkit.datasets.ink import ink_on_white
from sigkit.datasets.manifest import COLUMNS
from sigkit.datasets.sources import load_dataset
from sigkit.datasets.splits import (
    CEDAR_SPLIT,
    PRETRAIN_SPLIT,
    SHARES_SPLIT,
    corpus_split,
    limit_references,
    rows_in,
    split_writers,
    splits_for,
    summarize,
)

__all__ = [
    "CEDAR_SPLIT",
    "COLUMNS",
    "PRETRAIN_SPLIT",
    "SHARES_SPLIT",
    "corpus_split",
    "corpus_counts",
    "load_corpora",
    "DatasetError",
    "DuplicateImagesWarning",
    "default_cache_dir",
    "ink_on_white",
    "limit_references",
    "load_dataset",
    "rows_in",
    "split_writers",
    "splits_for",
    "summarize",
]
