"""Pixel inputs for vision towers, in the layout each kind of tower takes: a plain image batch, anyres tiles,
Qwen-VL-style flattened patches with (t, h, w) grids, NaFlex patch sequences, image stacks, video frames,
and the inference session of video trackers. Sizes come from the (vision) config or the input spec."""
from __future__ import annotations

import inspect

from hwcov.models.config_attrs import first_attr, sub_config


def image_hw(config, spec) -> tuple[int, int]:
    vision = sub_config(config, "vision_config", "backbone_config", "encoder", "image_config")
    size = spec.get("image_size") or first_attr(vision, ("image_size", "img_size", "input_size"),
                                                first_attr(config, ("image_size",), 64))
    if isinstance(size, dict):
        size = (size.get("height", 64), size.get("width", 64))
    if isinstance(size, (list, tuple)):
        return int(size[-2]), int(size[-1])
    return int(size), int(size)


def _channels(config, spec) -> int:
    vision = sub_config(config, "vision_config", "backbone_config", "encoder")
    return int(spec.get("num_channels") or first_attr(vision, ("num_channels", "in_channels", "in_chans"),
                                                      first_attr(config, ("num_channels",), 3)))


def _vision(config):
    if getattr(config, "vision_config", None) is None and getattr(config, "vlm_config", None) is not None:
        config = config.vlm_config  # retrieval wrappers (ColQwen2 …) hold the VLM, which holds the tower
    return sub_config(config, "vision_config", "vision_encoder_config", "backbone_config", "encoder", "image_config")


def _grid_pixels(config, spec, batch, gen):
    """Flattened patches + (t, h, w) grids, the layout of Qwen-VL-style vision towers."""
    import torch

    vision = _vision(config)
    patch = int(first_attr(vision, ("patch_size",), 14))
    temporal = int(first_attr(vision, ("temporal_patch_size", "patch_temporal"), 1))
    merge = int(first_attr(vision, ("spatial_merge_size", "merge_size"), 1) or 1)
    side = int(spec.get("grid_side") or 2 * merge)
    channels = int(first_attr(vision, ("in_channels", "num_channels"), 3))
    patches = torch.rand(batch * side * side, channels * temporal * patch * patch, generator=gen)
    if spec.get("grid_patches_4d"):
        patches = patches.view(-1, channels * temporal, patch, patch)
    grid = torch.tensor([[1, side, side]] * batch)
    return patches, grid, merge


def _patch_sequence(config, spec, batch, gen):
    """NaFlex layout (Siglip2-style): (batch, patches, C*p*p), spatial_shapes, a patch mask."""
    import torch

    vision = _vision(config)
    patch = int(first_attr(vision, ("patch_size",), 16))
    channels = int(first_attr(vision, ("num_channels", "in_channels"), 3))
    side = int(spec.get("grid_side") or 4)
    pixels = torch.rand(batch, side * side, channels * patch * patch, generator=gen)
    shapes = torch.tensor([[side, side]] * batch)
    mask = torch.ones(batch, side * side, dtype=torch.long)
    return pixels, shapes, mask


def _anyres_patches(config, h, w) -> int:
    """LLaVA-NeXT anyres: base image + the tiles of the best grid pinpoint for an (h, w) image."""
    pins = getattr(config, "image_grid_pinpoints", None)
    if not pins:
        return 0
    from transformers.image_processing_utils import select_best_resolution

    bh, bw = select_best_resolution((h, w), pins)
    return 1 + (bh // h) * (bw // w)


def pixel_inputs(model, config, spec, params, batch, gen) -> dict:
    """Pixel inputs in the layout the spec's `pixels` recipe names (default: a plain image batch)."""
    import torch

    layout = spec.get("pixels") or ("grid" if {"image_grid_thw", "grid_thw"} & set(params) else
                                    "video" if "pixel_values_videos" in params and "pixel_values" not in params
                                    else "image")
    out: dict = {}
    pixel_key = "pixel_values" if "pixel_values" in params else spec.get("pixel_key", "pixel_values")
    h, w = image_hw(config, spec)
    c = _channels(config, spec)
    if layout == "grid":
        patches, grid, _ = _grid_pixels(config, spec, batch, gen)
        if "pixel_values" not in params and "hidden_states" in params:
            pixel_key = "hidden_states"
        out[pixel_key] = patches
        out["image_grid_thw" if "image_grid_thw" in params else "grid_thw"] = grid
        for k in ("image_merge_sizes", "merge_sizes"):
            if k in params:
                out[k] = torch.tensor([int(first_attr(_vision(config), ("spatial_merge_size",), 1))] * batch)
    elif layout == "patches":
        pixels, shapes, mask = _patch_sequence(config, spec, batch, gen)
        out[pixel_key] = pixels
        if "spatial_shapes" in params:
            out["spatial_shapes"] = shapes
        if "pixel_attention_mask" in params:
            out["pixel_attention_mask"] = mask
        if spec.get("patch_positions"):  # (x, y) of each patch on the side x side grid
            side = int(shapes[0, 0])
            xy = torch.stack([torch.arange(side * side) % side, torch.arange(side * side) // side], dim=-1)
            out[spec["patch_positions"]] = xy.unsqueeze(0).repeat(batch, 1, 1)
    elif layout == "images_5d":
        n = int(spec.get("images_per_sample", 1))
        out[pixel_key] = torch.rand(batch, n, c, h, w, generator=gen)
        if "pixel_attention_mask" in params:
            out["pixel_attention_mask"] = torch.ones(batch, n, h, w, dtype=torch.bool)
    elif layout == "video":
        frames = int(spec.get("frames") or first_attr(_vision(config), ("num_frames",),
                                                      first_attr(config, ("num_frames",), 8)))
        key = "pixel_values_videos" if "pixel_values_videos" in params and "pixel_values" not in params else pixel_key
        out[key] = torch.rand(batch, frames, c, h, w, generator=gen)
    else:
        tiles = _anyres_patches(config, h, w) if "image_sizes" in params and _wants_image_sizes(model, spec) else 0
        shape = (batch, tiles, c, h, w) if tiles else (batch, c, h, w)
        out[pixel_key] = torch.rand(*shape, generator=gen)
        if "pixel_attention_mask" in params:
            out["pixel_attention_mask"] = torch.ones(batch, h, w, dtype=torch.bool)
    if "image_sizes" in params and _wants_image_sizes(model, spec):
        out["image_sizes"] = torch.tensor([[h, w]] * batch)
    return out


def _required(fn, name: str) -> bool:
    p = inspect.signature(fn).parameters.get(name)
    return p is not None and p.default is inspect.Parameter.empty


def _wants_image_sizes(model, spec) -> bool:
    """image_sizes is sent when the spec asks for it or the model's image path requires it."""
    if "image_sizes" in spec:
        return bool(spec["image_sizes"])
    fns = [model.forward] + ([model.get_image_features] if hasattr(model, "get_image_features") else [])
    return any(_required(f, "image_sizes") for f in fns)


def inference_session(config, spec: dict, batch: int, gen) -> dict:
    """A video-tracking session (SAM2-video style) built without a processor: `frames` random frames at the
    image size, `batch` tracked objects, each prompted with `points` foreground clicks on frame 0 (pixel
    coordinates of the model input); forward runs on that prompted frame."""
    import torch
    import transformers

    rec = spec["inference_session"]
    h, w = image_hw(config, spec)
    video = torch.rand(int(rec.get("frames", 2)), _channels(config, spec), h, w, generator=gen)
    session = getattr(transformers, rec["class"])(video=video, video_height=h, video_width=w, dtype=torch.float32)
    n = int(rec.get("points", 1))
    for obj_id in range(1, batch + 1):
        coords = torch.rand(1, 1, n, 2, generator=gen) * torch.tensor([float(w), float(h)])
        session.add_point_inputs(session.obj_id_to_idx(obj_id), 0, {
            "point_coords": coords, "point_labels": torch.ones(1, 1, n, dtype=torch.int32)})
    session.obj_with_new_inputs = list(range(1, batch + 1))
    return {"inference_session": session, "frame_idx": 0}
