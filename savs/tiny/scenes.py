"""Procedural toy scenes (PIL, seeded) with captions and question-answer pairs.

A scene is a small RGB image (64x64 by default) holding 1 to 4 coloured shapes on a
textured, noisy background. The image is split into four quadrants ("top left",
"top right", "bottom left", "bottom right") and every object sits inside its own
quadrant, so positions are always well defined and objects never overlap. Within a
scene every object has a distinct colour and a distinct shape, so "the red shape" or
"the star" always names exactly one object.

Everything is a pure function of the seed: ``make_scene(seed)`` gives the same scene
(and the same image bytes) on every run.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

IMAGE_SIZE = 64

# name -> nominal RGB. Backgrounds are kept to muted mid tones so that white and black
# objects stay visible; object colours get a small random jitter.
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 30, 30),
    "orange": (245, 140, 20),
    "yellow": (240, 225, 30),
    "green": (30, 170, 50),
    "cyan": (30, 210, 220),
    "blue": (30, 60, 220),
    "purple": (140, 40, 190),
    "pink": (250, 120, 190),
    "white": (250, 250, 250),
    "black": (15, 15, 15),
}
SHAPES: tuple[str, ...] = ("circle", "square", "triangle", "star", "cross", "diamond", "ring")
QUADRANTS: tuple[str, ...] = ("top left", "top right", "bottom left", "bottom right")
COUNT_WORDS = {1: "one", 2: "two", 3: "three", 4: "four"}
BACKGROUNDS: tuple[str, ...] = ("plain", "gradient", "stripes", "checker", "noise", "dots")

QUESTION_TYPES: tuple[str, ...] = ("colour", "shape", "count", "position", "exists", "caption")


@dataclass
class SceneObject:
    shape: str
    colour: str
    quadrant: str
    cx: float
    cy: float
    size: float  # radius-like half extent in pixels
    angle: float = 0.0

    @property
    def name(self) -> str:
        return f"{self.colour} {self.shape}"


@dataclass
class Scene:
    seed: int
    objects: list[SceneObject]
    background: str
    image: Image.Image = field(repr=False)

    @property
    def count(self) -> int:
        return len(self.objects)


# --------------------------------------------------------------------------- drawing


def _polygon(cx: float, cy: float, r: float, n: int, angle: float, inner: float | None = None):
    pts = []
    steps = n * 2 if inner is not None else n
    for k in range(steps):
        a = angle + 2 * math.pi * k / steps - math.pi / 2
        rr = r if (inner is None or k % 2 == 0) else r * inner
        pts.append((cx + rr * math.cos(a), cy + rr * math.sin(a)))
    return pts


def _draw_shape(draw: ImageDraw.ImageDraw, obj: SceneObject, rgb: tuple[int, int, int]) -> None:
    cx, cy, r, a = obj.cx, obj.cy, obj.size, obj.angle
    if obj.shape == "circle":
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=rgb)
    elif obj.shape == "ring":
        w = max(2.0, r * 0.38)
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], outline=rgb, width=int(round(w)))
    elif obj.shape == "square":
        draw.polygon(_polygon(cx, cy, r * 1.2, 4, math.pi / 4 + a), fill=rgb)
    elif obj.shape == "diamond":
        # a rhombus standing on a corner, taller than wide
        pts = [(cx, cy - r * 1.25), (cx + r * 0.8, cy), (cx, cy + r * 1.25), (cx - r * 0.8, cy)]
        draw.polygon(pts, fill=rgb)
    elif obj.shape == "triangle":
        draw.polygon(_polygon(cx, cy + r * 0.15, r * 1.2, 3, a), fill=rgb)
    elif obj.shape == "star":
        draw.polygon(_polygon(cx, cy, r * 1.25, 5, a, inner=0.42), fill=rgb)
    elif obj.shape == "cross":
        t = r * 0.38
        draw.rectangle([cx - r, cy - t, cx + r, cy + t], fill=rgb)
        draw.rectangle([cx - t, cy - r, cx + t, cy + r], fill=rgb)
    else:  # pragma: no cover - guarded by SHAPES
        raise ValueError(obj.shape)


def _background(rng: random.Random, size: int, kind: str) -> Image.Image:
    base = [rng.randint(85, 165) for _ in range(3)]
    mean = sum(base) / 3
    base = [int(mean + 0.35 * (c - mean)) for c in base]  # muted, low saturation
    img = Image.new("RGB", (size, size), tuple(base))
    d = ImageDraw.Draw(img)
    alt = tuple(max(0, min(255, c + rng.choice((-1, 1)) * rng.randint(12, 28))) for c in base)
    if kind == "gradient":
        other = tuple(max(0, min(255, c + rng.randint(-35, 35))) for c in base)
        vertical = rng.random() < 0.5
        for i in range(size):
            t = i / (size - 1)
            col = tuple(int(base[j] * (1 - t) + other[j] * t) for j in range(3))
            if vertical:
                d.line([(0, i), (size, i)], fill=col)
            else:
                d.line([(i, 0), (i, size)], fill=col)
    elif kind == "stripes":
        period = rng.randint(4, 10)
        horizontal = rng.random() < 0.5
        for i in range(0, size, period):
            box = [0, i, size, i + period // 2] if horizontal else [i, 0, i + period // 2, size]
            d.rectangle(box, fill=alt)
    elif kind == "checker":
        cell = rng.randint(4, 10)
        for y in range(0, size, cell):
            for x in range(0, size, cell):
                if (x // cell + y // cell) % 2:
                    d.rectangle([x, y, x + cell - 1, y + cell - 1], fill=alt)
    elif kind == "dots":
        for _ in range(rng.randint(15, 40)):
            x, y = rng.uniform(0, size), rng.uniform(0, size)
            rr = rng.uniform(0.8, 2.0)
            d.ellipse([x - rr, y - rr, x + rr, y + rr], fill=alt)
    elif kind == "noise":
        pass  # handled by the global noise below, with a stronger amplitude
    return img


def _add_noise(img: Image.Image, rng: random.Random, amplitude: int) -> Image.Image:
    """Add grey Gaussian pixel noise seeded from ``rng`` (reproducible, unlike PIL's)."""
    if amplitude <= 0:
        return img
    gen = np.random.default_rng(rng.getrandbits(32))
    noise = gen.normal(0.0, amplitude, size=(img.size[1], img.size[0], 1))
    arr = np.asarray(img, dtype=np.float32) + noise
    return Image.fromarray(np.clip(np.rint(arr), 0, 255).astype(np.uint8), "RGB")


def make_scene(
    seed: int,
    n_objects: int | None = None,
    size: int = IMAGE_SIZE,
    colours: list[str] | None = None,
    shapes: list[str] | None = None,
    quadrants: list[str] | None = None,
) -> Scene:
    """Render the scene for ``seed``.

    ``n_objects`` / ``colours`` / ``shapes`` / ``quadrants`` force parts of the layout
    (lists give the attribute of object i); everything else is drawn from the seed.
    """
    rng = random.Random(seed)
    n = n_objects if n_objects is not None else rng.randint(1, 4)
    if not 1 <= n <= 4:
        raise ValueError("a scene holds 1 to 4 objects")
    cols = list(colours) if colours else rng.sample(list(COLOURS), n)
    shps = list(shapes) if shapes else rng.sample(list(SHAPES), n)
    quads = list(quadrants) if quadrants else rng.sample(list(QUADRANTS), n)
    kind = rng.choice(BACKGROUNDS)
    img = _background(rng, size, kind)
    half = size / 2
    objects: list[SceneObject] = []
    for i in range(n):
        q = quads[i]
        r = rng.uniform(0.14, 0.21) * size if n == 1 else rng.uniform(0.11, 0.17) * size
        r = min(r, half * 0.42)
        margin = r * 1.25 + 1
        qx = 0 if q.endswith("left") else 1
        qy = 0 if q.startswith("top") else 1
        cx = qx * half + rng.uniform(margin, half - margin)
        cy = qy * half + rng.uniform(margin, half - margin)
        obj = SceneObject(shps[i], cols[i], q, cx, cy, r, angle=rng.uniform(-0.35, 0.35))
        objects.append(obj)
    # supersample the shapes for smooth edges
    ss = 4
    big = img.resize((size * ss, size * ss), Image.NEAREST)
    d = ImageDraw.Draw(big)
    for obj in objects:
        base = COLOURS[obj.colour]
        rgb = tuple(max(0, min(255, c + rng.randint(-18, 18))) for c in base)
        scaled = SceneObject(
            obj.shape, obj.colour, obj.quadrant, obj.cx * ss, obj.cy * ss, obj.size * ss, obj.angle
        )
        _draw_shape(d, scaled, rgb)
    img = big.resize((size, size), Image.BOX)
    if rng.random() < 0.3:
        img = img.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 0.7)))
    amp = rng.randint(10, 22) if kind == "noise" else rng.randint(2, 9)
    img = _add_noise(img, rng, amp)
    return Scene(seed=seed, objects=objects, background=kind, image=img)


# ----------------------------------------------------------------------- language


def article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def caption(scene: Scene) -> str:
    """A deterministic short caption: objects in reading order (top left .. bottom right),
    e.g. "a red circle and a blue star"."""
    objs = sorted(scene.objects, key=lambda o: QUADRANTS.index(o.quadrant))
    parts = [f"{article(o.colour)} {o.colour} {o.shape}" for o in objs]
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def count_answer(n: int) -> str:
    return str(n)


def qa_pairs(scene: Scene, rng: random.Random) -> list[tuple[str, str, str]]:
    """All question types for a scene, as (type, question, answer). One pair per type,
    phrasings drawn with ``rng``."""
    objs = scene.objects
    single = len(objs) == 1
    out: list[tuple[str, str, str]] = []
    o = rng.choice(objs)
    # colour
    if single and rng.random() < 0.6:
        q = rng.choice(
            ["What colour is the shape?", "What color is the shape?", "What colour is the object?"]
        )
    else:
        q = rng.choice([f"What colour is the {o.shape}?", f"What color is the {o.shape}?"])
    out.append(("colour", q, o.colour))
    # shape
    o = rng.choice(objs)
    if single and rng.random() < 0.6:
        q = rng.choice(["What shape is this?", "What shape is it?", "What shape is shown?"])
    else:
        q = rng.choice([f"What shape is the {o.colour} one?", f"What shape is {o.colour}?"])
    out.append(("shape", q, o.shape))
    # count
    q = rng.choice(
        ["How many shapes are there?", "How many objects are in the image?", "How many shapes?"]
    )
    out.append(("count", q, count_answer(len(objs))))
    # position
    o = rng.choice(objs)
    if single and rng.random() < 0.6:
        q = rng.choice(["Where is the shape?", "Where is the object?"])
    else:
        q = rng.choice(
            [
                f"Where is the {o.colour} {o.shape}?",
                f"Where is the {o.shape}?",
                f"Where is the {o.colour} one?",
            ]
        )
    out.append(("position", q, o.quadrant))
    # exists (balanced yes / no)
    present = {(x.colour, x.shape) for x in objs}
    if rng.random() < 0.5:
        o = rng.choice(objs)
        if rng.random() < 0.5:
            q, a = f"Is there {article(o.colour)} {o.colour} {o.shape}?", "yes"
        else:
            q, a = rng.choice(
                [
                    (f"Is there a {o.shape}?", "yes"),
                    (f"Is there {article(o.colour)} {o.colour} shape?", "yes"),
                ]
            )
    else:
        mode = rng.random()
        if mode < 0.4:
            shape = rng.choice([s for s in SHAPES if s not in {x.shape for x in objs}])
            q, a = f"Is there a {shape}?", "no"
        elif mode < 0.7:
            colour = rng.choice([c for c in COLOURS if c not in {x.colour for x in objs}])
            q, a = f"Is there {article(colour)} {colour} shape?", "no"
        else:
            while True:
                c, s = rng.choice(list(COLOURS)), rng.choice(SHAPES)
                if (c, s) not in present:
                    break
            q, a = f"Is there {article(c)} {c} {s}?", "no"
    out.append(("exists", q, a))
    # caption
    q = rng.choice(["Describe the image.", "Describe the scene.", "What is in the image?"])
    out.append(("caption", q, caption(scene)))
    return out


def sample_qa(seed: int, qtype: str | None = None) -> tuple[Scene, str, str, str]:
    """Scene for ``seed`` plus one question (of ``qtype`` if given)."""
    scene = make_scene(seed)
    rng = random.Random(seed * 7919 + 17)
    pairs = qa_pairs(scene, rng)
    if qtype is None:
        return (scene, *rng.choice(pairs))
    for t, q, a in pairs:
        if t == qtype:
            return scene, t, q, a
    raise ValueError(qtype)
