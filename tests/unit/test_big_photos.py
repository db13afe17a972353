"""A phone's 48 MP photo (over MAX_IMAGE_PIXELS) is scaled down on arrival, not refused (issue
22): a JPEG decodes at a fraction of its size straight from the file, so its budgets count what
is decoded; the same size in a format that cannot decode scaled (PNG) is still refused."""

from __future__ import annotations

import pytest
from PIL import Image

from savs.errors import DataError
from savs.images import image_size, open_image
from savs.limits import MAX_IMAGE_PIXELS, MAX_IMAGE_SIDE

pytestmark = [
    pytest.mark.unit,
    pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning"),
]

SIZE = (8000, 6000)  # 48 M pixels


@pytest.fixture(scope="module")
def photo(tmp_path_factory):
    folder = tmp_path_factory.mktemp("photos")
    image = Image.new("RGB", SIZE, (200, 40, 40))
    image.paste((30, 60, 220), (0, 0, SIZE[0] // 2, SIZE[1]))  # left half blue
    path = folder / "phone.jpg"
    image.save(path, quality=70)
    png = folder / "phone.png"
    image.save(png, compress_level=1)
    return path, png


def test_a_48_mp_jpeg_is_scaled_down_on_arrival(photo):
    jpeg, _ = photo
    assert SIZE[0] * SIZE[1] > MAX_IMAGE_PIXELS
    width, height = image_size(jpeg)
    assert (width, height) == (SIZE[0] // 2, SIZE[1] // 2)  # what it decodes at
    assert width * height <= MAX_IMAGE_PIXELS
    image = open_image(jpeg)
    assert max(image.size) == MAX_IMAGE_SIDE and image.mode == "RGB"
    assert image.size[0] / image.size[1] == pytest.approx(SIZE[0] / SIZE[1], rel=0.01)
    left, right = image.getpixel((10, 10)), image.getpixel((image.width - 10, 10))
    assert left[2] > 150 and right[0] > 150  # the picture, not noise


def test_the_same_size_as_png_is_still_refused(photo):
    _, png = photo
    with pytest.raises(DataError, match="over the limit"):
        open_image(png)
