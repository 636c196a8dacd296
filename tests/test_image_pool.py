"""ImagePool: reference semantics, its own seeded RNG, and exact save/restore."""

import io

import pytest
import torch

from cyclegan_lit.image_pool import ImagePool

torch.set_num_threads(1)


def batch(start: int, n: int = 1) -> torch.Tensor:
    """Images whose every pixel equals their index, so an output reveals which image it is."""
    return torch.arange(start, start + n, dtype=torch.float32).view(n, 1, 1, 1).expand(n, 3, 4, 4)


def ids(images: torch.Tensor) -> list[int]:
    return [int(image[0, 0, 0]) for image in images]


def run(pool: ImagePool, start: int, steps: int, n: int = 1) -> list[int]:
    out = []
    for step in range(steps):
        out += ids(pool.query(batch(start + step * n, n)))
    return out


def test_pool_size_zero_is_a_pass_through():
    pool = ImagePool(0)
    images = torch.randn(2, 3, 4, 4, requires_grad=True)
    assert pool.query(images) is images
    assert len(pool) == 0


def test_fills_to_size_returning_the_current_images():
    pool = ImagePool(5, seed=0)
    assert run(pool, 0, 2, n=2) == [0, 1, 2, 3]
    assert len(pool) == 4
    assert ids(pool.query(batch(4, 1))) == [4]
    assert len(pool) == 5
    assert [int(image[0, 0, 0, 0]) for image in pool.images] == [0, 1, 2, 3, 4]


def test_full_pool_returns_about_half_stored_images():
    pool = ImagePool(10, seed=123)
    run(pool, 0, 10)
    out = run(pool, 10, 2000)
    current = [o for i, o in enumerate(out) if o == 10 + i]
    older = [o for i, o in enumerate(out) if o != 10 + i]
    assert 900 < len(current) < 1100  # p > 0.5 => a stored image
    assert all(o < 10 + i for i, o in enumerate(out) if o != 10 + i)
    assert len(set(older)) == len(older)  # each stored image leaves the pool when returned
    assert len(pool) == 10


def reference_query(pool: list, pool_size: int, images: torch.Tensor) -> torch.Tensor:
    """util/image_pool.py ImagePool.query, with Python's global random."""
    import random

    out = []
    for image in images:
        image = torch.unsqueeze(image.data, 0)
        if len(pool) < pool_size:
            pool.append(image)
            out.append(image)
        elif random.uniform(0, 1) > 0.5:
            random_id = random.randint(0, pool_size - 1)
            tmp = pool[random_id].clone()
            pool[random_id] = image
            out.append(tmp)
        else:
            out.append(image)
    return torch.cat(out, 0)


def test_matches_the_reference_draw_for_draw():
    import random

    random.seed(5)
    reference_pool: list = []
    expected = []
    for step in range(100):
        expected += ids(reference_query(reference_pool, 8, batch(3 * step, 3)))
    assert run(ImagePool(8, seed=5), 0, 100, n=3) == expected


def test_same_seed_same_sequence_different_seeds_differ():
    seq = [run(ImagePool(4, seed=s), 0, 200) for s in (7, 7, 8)]
    assert seq[0] == seq[1]
    assert seq[0] != seq[2]


def test_reseed_restarts_the_stream():
    a, b = ImagePool(4, seed=1), ImagePool(4, seed=2)
    b.reseed(1)
    assert run(a, 0, 100) == run(b, 0, 100)


def test_pool_does_not_use_the_global_random():
    import random

    a, b = ImagePool(4, seed=3), ImagePool(4, seed=3)
    random.seed(0)
    first = run(a, 0, 100)
    random.seed(99)
    assert run(b, 0, 100) == first


def test_outputs_are_detached_and_the_pool_keeps_its_own_copies():
    fake = torch.zeros(1, 3, 4, 4, requires_grad=True)
    assert not ImagePool(1, seed=0).query(fake * 1).requires_grad
    # The caller mutating its tensor in place must not change what the pool stored.
    pool = ImagePool(1, seed=0)
    first = torch.zeros(1, 3, 4, 4)
    pool.query(first)
    first.add_(9)
    assert float(pool.images[0].abs().sum()) == 0.0
    current = torch.full((1, 3, 4, 4), 5.0)
    returned_stored = None
    for _ in range(100):
        out = pool.query(current)
        if ids(out) == [0]:
            returned_stored = out
            break
    assert returned_stored is not None
    current.add_(100)
    assert float(pool.images[0][0, 0, 0, 0]) == 5.0
    # Mutating a returned stored image leaves the pool alone too.
    returned_stored.add_(100)
    assert float(pool.images[0][0, 0, 0, 0]) == 5.0


def test_state_dict_roundtrip_continues_the_same_sequence():
    pool = ImagePool(6, seed=42)
    run(pool, 0, 30, n=2)
    buffer = io.BytesIO()
    torch.save(pool.state_dict(), buffer)
    expected = run(pool, 1000, 50, n=2)

    buffer.seek(0)
    restored = ImagePool(6, seed=0)
    restored.load_state_dict(torch.load(buffer, weights_only=True))
    assert len(restored) == 6
    assert run(restored, 1000, 50, n=2) == expected


def test_loaded_images_follow_the_dtype_of_queries():
    pool = ImagePool(2, seed=0)
    pool.query(batch(0, 2))
    restored = ImagePool(2, seed=0)
    restored.load_state_dict(pool.state_dict())
    out = restored.query(batch(2, 8).to(torch.bfloat16))
    assert out.dtype == torch.bfloat16
    assert out.shape == (8, 3, 4, 4)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_loaded_pool_moves_to_the_device_of_the_next_query():
    pool = ImagePool(2, seed=0)
    pool.query(batch(0, 2).cuda())
    state = pool.state_dict()
    assert all(image.device.type == "cpu" for image in state["images"])
    restored = ImagePool(2, seed=0)
    restored.load_state_dict(state)
    out = restored.query(batch(2, 8).cuda())
    assert out.device.type == "cuda"
    assert all(image.device.type == "cuda" for image in restored.images)
