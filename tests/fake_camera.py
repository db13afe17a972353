"""A fake webcam for browser tests: a short .y4m clip of known frames that Chromium plays as its
camera (`--use-fake-device-for-media-stream --use-file-for-fake-video-capture=clip.y4m`), so a
live-classification page can be tested with frames whose right answer is known.

Y4M is raw I420 video with a one-line header: no encoder or extra package is needed, and every
pixel of a frame is exactly what we wrote (up to the YUV round trip and 2x2 chroma sharing).
Chromium loops the clip.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
from PIL import Image

# flags that make Chromium's getUserMedia answer with the clip, without a permission prompt
FAKE_CAMERA_ARGS = ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]


def chromium_camera_args(clip: str | Path) -> list[str]:
    """Extra Chromium arguments that make `clip` the webcam."""
    return [*FAKE_CAMERA_ARGS, f"--use-file-for-fake-video-capture={Path(clip).resolve()}"]


def _rgb_to_i420(image: Image.Image) -> bytes:
    """RGB [H, W, 3] -> I420 planes (Y [H, W], U and V [H/2, W/2]), BT.601 limited range: the
    matrix Chromium assumes for camera frames, so a canvas reads the RGB we wrote back."""
    rgb = np.asarray(image.convert("RGB"), dtype=np.float64) / 255.0  # [H, W, 3]
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    y = 16 + 65.481 * r + 128.553 * g + 24.966 * b
    u = 128 - 37.797 * r - 74.203 * g + 112.0 * b
    v = 128 + 112.0 * r - 93.786 * g - 18.214 * b
    h, w = y.shape

    def half(plane: np.ndarray) -> np.ndarray:  # [H, W] -> [H/2, W/2], mean of each 2x2
        return plane.reshape(h // 2, 2, w // 2, 2).mean(axis=(1, 3))

    planes = [y, half(u), half(v)]
    return b"".join(np.clip(np.rint(p), 0, 255).astype(np.uint8).tobytes() for p in planes)


def write_y4m(path: str | Path, frames: Iterable[Image.Image], fps: int = 10) -> Path:
    """Write `frames` (PIL images of one even size) as an uncompressed 4:2:0 .y4m clip."""
    path = Path(path)
    frames = list(frames)
    if not frames:
        raise ValueError("a clip needs at least one frame")
    width, height = frames[0].size
    if width % 2 or height % 2:
        raise ValueError(f"frame size {width}x{height}: width and height must be even (4:2:0)")
    with path.open("wb") as f:
        f.write(f"YUV4MPEG2 W{width} H{height} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for frame in frames:
            if frame.size != (width, height):
                raise ValueError(f"frame of size {frame.size}, the clip is {width}x{height}")
            f.write(b"FRAME\n")
            f.write(_rgb_to_i420(frame))
    return path


def read_y4m(path: str | Path) -> list[Image.Image]:
    """The frames of a clip written by write_y4m, back as RGB (to check a clip without a
    browser; same BT.601 limited-range matrix)."""
    data = Path(path).read_bytes()
    header, _, rest = data.partition(b"\n")
    fields = {p[:1]: p[1:] for p in header.split()[1:]}
    w, h = int(fields[b"W"]), int(fields[b"H"])
    size = w * h * 3 // 2
    frames = []
    while rest.startswith(b"FRAME"):
        rest = rest.partition(b"\n")[2]
        raw = np.frombuffer(rest[:size], dtype=np.uint8).astype(np.float64)
        rest = rest[size:]
        y = raw[: w * h].reshape(h, w) - 16
        u = raw[w * h : w * h * 5 // 4].reshape(h // 2, w // 2).repeat(2, 0).repeat(2, 1) - 128
        v = raw[w * h * 5 // 4 :].reshape(h // 2, w // 2).repeat(2, 0).repeat(2, 1) - 128
        rgb = np.stack(
            [1.164 * y + 1.596 * v, 1.164 * y - 0.392 * u - 0.813 * v, 1.164 * y + 2.017 * u],
            axis=-1,
        )
        frames.append(Image.fromarray(np.clip(np.rint(rgb), 0, 255).astype(np.uint8)))
    return frames


def solid_frames(
    colours: Sequence[tuple[int, int, int]], frames_each: int = 5, size: tuple[int, int] = (64, 64)
) -> list[Image.Image]:
    """`frames_each` frames of each solid colour in turn (e.g. red, then blue)."""
    return [Image.new("RGB", size, c) for c in colours for _ in range(frames_each)]


def quadrant_frame(
    colours: Sequence[tuple[int, int, int]], size: tuple[int, int] = (64, 64)
) -> Image.Image:
    """One frame of four solid quadrants: top left, top right, bottom left, bottom right (so a
    test sees both the colours and that the picture is not mirrored or flipped)."""
    w, h = size
    frame = Image.new("RGB", size)
    for i, colour in enumerate(colours[:4]):
        x, y = (i % 2) * w // 2, (i // 2) * h // 2
        frame.paste(colour, (x, y, x + w // 2, y + h // 2))
    return frame


def scene_frames(
    task: str, labels: Sequence[str], frames_each: int = 5, seed: int = 0, size: int = 64
) -> list[tuple[str, Image.Image]]:
    """(label, frame) pairs of bundled-task scenes (savs.tiny.tasks, e.g. task 'colour' and
    labels ['red', 'blue']), so the bundled tiny model can classify the camera's frames. Seeds
    come from a range of their own (9,000,000+), away from the task and training scenes."""
    from savs.tiny.tasks import task_scene

    out = []
    for c, label in enumerate(labels):
        for k in range(frames_each):
            image = task_scene(task, label, 9_000_000 + seed * 10_000 + c * 100 + k).image
            out.append((label, image.resize((size, size), Image.NEAREST)))
    return out
