"""Images someone else made: opened to 8-bit RGB with every check done from the header first.

`open_image` accepts a path or a PIL image and returns RGB, whatever came in (16-bit, CMYK,
palette, alpha, animated, EXIF-rotated, huge). A file must be one of IMAGE_FORMATS (EPS would
run Ghostscript) and is refused as a decompression bomb before any pixel is decoded;
`image_size` reads only the header, so budgets are checked before any decoding. Every problem is
a `DataError` naming the file. `image_digest` is an image's content hash (for caches).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from PIL import Image, ImageOps

from .errors import DataError
from .limits import IMAGE_FORMATS, MAX_IMAGE_PIXELS, MAX_IMAGE_SIDE

# A backstop for any Image.open in this process (gradio's, a plugin's): Pillow warns past our
# limit and refuses outright past twice it, instead of at its own 89 M / 179 M pixels.
Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS
ImageLike = str | Path | Image.Image
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".gif", ".bmp", ".webp", ".tif", ".tiff"}


@contextmanager
def _image_file(path: Path, name: str) -> Iterator[Image.Image]:
    """An image file opened to its header only, with every check that needs no pixels: exists,
    not empty, one of IMAGE_FORMATS (EPS would run Ghostscript), not a decompression bomb.
    Failures inside the `with` block (decoding) become the same DataError."""
    if not path.is_file():
        raise DataError(
            f"{name}: image file not found. Check the path (relative paths are "
            "resolved from the JSONL file's folder)."
        )
    if path.stat().st_size == 0:
        raise DataError(f"{name}: the image file is empty (0 bytes). Replace or remove it.")
    try:
        # No warning filter here: catch_warnings swaps the process-wide filter list, and two
        # request threads inside it at once leave a filter behind. Pillow's own check is set to
        # our limit (above): past it Pillow only warns and the header check below refuses the
        # image with its size; past twice it Pillow raises DecompressionBombError itself.
        # `with`: animated images keep their file open until closed
        with Image.open(path, formats=IMAGE_FORMATS) as img:
            if img.width * img.height > MAX_IMAGE_PIXELS and img.format == "JPEG":
                # a phone's 48-80 MP photo: JPEG decodes at 1/2, 1/4 or 1/8 scale directly, so
                # it is scaled down on arrival (and its size below is what will be decoded)
                img.draft("RGB", (MAX_IMAGE_SIDE, MAX_IMAGE_SIDE))
            if img.width * img.height > MAX_IMAGE_PIXELS:
                raise DataError(
                    f"{name}: image is {img.width}x{img.height} pixels, over the "
                    f"limit of {MAX_IMAGE_PIXELS:,}. Resize it first."
                )
            yield img
    except DataError:
        raise
    except Image.DecompressionBombError:
        raise DataError(
            f"{name}: image is too large to decode safely (over twice the limit of "
            f"{MAX_IMAGE_PIXELS:,} pixels). Resize it first."
        ) from None
    except Exception as exc:  # PIL raises many types for corrupt files
        raise DataError(
            f"{name}: not a readable image ({type(exc).__name__}: {exc}). "
            "Use a PNG, JPEG, GIF, BMP, WebP or TIFF file."
        ) from None


def image_size(image: str | Path, where: str = "") -> tuple[int, int]:
    """(width, height) from the file's header, decoding no pixels: what budgets are checked on.
    For a JPEG over MAX_IMAGE_PIXELS, the size it decodes at (scaled by 1/2 to 1/8)."""
    with _image_file(Path(image), where or str(image)) as img:
        return img.size


def open_image(image: ImageLike, where: str = "") -> Image.Image:
    """Open an image as 8-bit RGB, whatever it was (16-bit, CMYK, palette, alpha, animated).

    Raises DataError (naming the file) for anything that is not a readable image of an allowed
    format (IMAGE_FORMATS), and refuses decompression bombs before decoding their pixels.
    """
    name = where or (str(image) if not isinstance(image, Image.Image) else "image")
    if where and not isinstance(image, Image.Image) and Path(image).name not in where:
        name = f"{where}: image '{Path(image).name}'"  # which of the example's images
    if not isinstance(image, Image.Image):
        with _image_file(Path(image), name) as img:
            img.draft("RGB", (MAX_IMAGE_SIDE, MAX_IMAGE_SIDE))  # JPEG: decode at low res
            img.load()
            return _to_rgb(img)  # a copy: usable after the file is closed
    try:
        return _to_rgb(image)
    except Exception as exc:  # an in-memory image in a mode PIL cannot convert
        raise DataError(
            f"{name}: cannot convert this image to RGB ({type(exc).__name__}: {exc})."
        ) from None


def _to_rgb(img: Image.Image) -> Image.Image:
    if img.tell():
        # an in-memory animation moved past its first frame; a file opens at frame 0, and
        # `is_animated` is never asked (it parses the next frame)
        img.seek(0)
    if max(img.size) > MAX_IMAGE_SIDE:
        # shrink first: each conversion below copies the image, and the largest one allowed
        # (40 M pixels RGBA = 160 MB) peaked at 750 MB when shrunk only at the end
        try:
            img = ImageOps.contain(img, (MAX_IMAGE_SIDE, MAX_IMAGE_SIDE))
        except ValueError:  # a mode PIL cannot resample: shrink at the end instead
            pass
    img = ImageOps.exif_transpose(img)
    if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        # 16-bit or float greyscale: scale to 8 bits instead of clipping everything to white
        import numpy as np

        arr = np.asarray(img, dtype=np.float64)
        lo, hi = float(arr.min()), float(arr.max())
        arr = (arr - lo) / (hi - lo) * 255.0 if hi > lo else arr * 0.0
        img = Image.fromarray(arr.astype("uint8"), mode="L")
    if img.mode == "P":
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "PA"):
        background = Image.new("RGBA", img.size, (255, 255, 255, 255))
        img = Image.alpha_composite(background, img.convert("RGBA"))
    img = img.convert("RGB")
    if max(img.size) > MAX_IMAGE_SIDE:
        img.thumbnail((MAX_IMAGE_SIDE, MAX_IMAGE_SIDE))
    return img


def image_digest(image: ImageLike) -> str:
    """Content hash of an image: file bytes for paths, pixels for PIL images."""
    h = hashlib.sha256()
    if isinstance(image, Image.Image):
        h.update(f"{image.mode}{image.size}".encode())
        h.update(image.tobytes())
    else:
        with open(image, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()


def unopened_image(payload: object, folder: str | Path) -> str | None:
    """An image input's payload as a file path, its bytes not decoded: an upload's own path,
    or a data URL (the live webcam sends its frames so) written to a new file in `folder`. The
    gradio glue (the app's `studio.inputs.visitor_image`, an exported Space's input) hands
    this to callbacks instead of gradio's decoded image, so `open_image` checks come first.
    `payload` is gradio's ImageData, read by duck typing (the library imports no gradio)."""
    if payload is None:
        return None
    url = getattr(payload, "url", None) or ""
    if url.startswith("data:"):
        return _data_url_file(url, Path(folder))
    return getattr(payload, "path", None)


def _data_url_file(url: str, folder: Path) -> str:
    """A data URL's bytes in a new file in `folder`."""
    try:
        data = base64.b64decode(url.partition(",")[2], validate=True)
    except (binascii.Error, ValueError):
        data = b""  # open_image refuses an empty file with a clear message
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=folder, prefix="frame-", delete=False) as f:
        f.write(data)
    return f.name


__all__ = [
    "ImageLike",
    "IMAGE_SUFFIXES",
    "open_image",
    "image_size",
    "image_digest",
    "unopened_image",
]
