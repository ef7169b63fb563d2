"""Shrink a config dict to a tiny one by the rules of templates/tiny/defaults.yaml: widths, ffn sizes, layer,
head, expert and position counts and the vocabulary are lowered, and what depends on them follows (per-layer lists, backbone
stages, layer indexes, head dims, linked projection sizes, image sizes in whole patches)."""
from __future__ import annotations

import copy

_SKIP_DICT_KEYS = {"id2label", "label2id", "task_specific_params", "auto_map", "quantization_config",
                   "rope_scaling", "rope_parameters"}


def _lower(d: dict, keys, value) -> None:
    for k in keys:
        v = d.get(k)
        if isinstance(v, int) and not isinstance(v, bool) and v > value:
            d[k] = value


def _shrink_lists(d: dict, key: str, old: int, new: int) -> None:
    """Per-layer lists (layer_types, mlp_only_layers …) follow the shrunk layer count; a list of layer
    kinds keeps every kind it had (sliding ×5 + full -> sliding, full), so each code path still runs."""
    for k, v in d.items():
        if isinstance(v, list) and len(v) == old and old > new and k != key:
            d[k] = _keep_kinds(v, new) if all(isinstance(x, str) for x in v) else v[:new]


def _keep_kinds(v: list, n: int) -> list:
    out = list(v[:n])
    missing = [x for x in dict.fromkeys(v) if x not in out]
    for i, kind in enumerate(missing[:n]):
        out[n - len(missing[:n]) + i] = kind
    return out


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _sub_dicts(d: dict):
    """Nested sub-config dicts (those carrying a model_type)."""
    for k, v in d.items():
        if isinstance(v, dict) and k not in _SKIP_DICT_KEYS and "model_type" in v:
            yield k, v


def _collect_sizes(d: dict, rules: dict, widths: set, ffns: set) -> None:
    """Original widths and ffn sizes anywhere in the config tree (for the value map)."""
    widths.update(d[k] for k in rules["width_keys"] if _is_int(d.get(k)) and d[k] > rules["width"])
    ffns.update(d[k] for k in rules["ffn_keys"] if _is_int(d.get(k)) and d[k] > rules["ffn"])
    for _, v in _sub_dicts(d):
        _collect_sizes(v, rules, widths, ffns)


def _map_linked_sizes(d: dict, rules: dict, widths: set, ffns: set) -> None:
    """Keys the shrink lists don't name (out_hidden_size, codebook_dim, audio_hidden_size …) that held
    an original width (ffn size) of some config in the tree follow it to the tiny width (ffn size):
    they are the other end of a projection between sub-configs."""
    link = rules["linked_size"]
    known = set(rules["width_keys"]) | set(rules["ffn_keys"])
    for k, v in list(d.items()):
        if k in known or any(x in k for x in link["never"]):
            continue
        if isinstance(v, list) and v and all(_is_int(x) for x in v) and len(set(v)) == 1 \
                and v[0] in widths and any(x in k for x in link["width_names"]):
            d[k] = [rules["width"]] * len(v)  # e.g. decoder_in_channels: [256, 256, 256]
            continue
        if not _is_int(v):
            continue
        if any(x in k for x in link["ffn_names"]) and v in ffns:
            d[k] = rules["ffn"]
        elif any(x in k for x in link["width_names"]) and v in widths:
            d[k] = rules["width"]


def _lower_head_lists(d: dict, rules: dict) -> None:
    """Per-stage head lists (num_heads: [3, 6, 12, 24]) are lowered element-wise."""
    for k in rules["head_keys"]:
        v = d.get(k)
        if isinstance(v, list) and v and all(_is_int(x) for x in v):
            d[k] = [x if x <= rules["heads"] and rules["heads"] % x == 0 else rules["heads"] for x in v]


_STAGE_KEYS = ("stage_names", "out_features", "out_indices")


def _scale_stage_widths(d: dict, before: dict, rules: dict) -> None:
    """Per-stage width lists that start at this config's own width (embed_dim_per_stage: [96, 192, …]
    with embed_dim 96) scale with it, so stage 1 still matches the embedding."""
    names = rules["linked_size"]["width_names"]
    for wk in rules["width_keys"]:
        old, new = before.get(wk), d.get(wk)
        if not (_is_int(old) and _is_int(new) and new < old):
            continue
        for k, v in before.items():
            if k in rules["width_keys"] or not any(x in k for x in names):
                continue
            if isinstance(v, list) and len(v) > 1 and all(_is_int(x) for x in v) and v[0] == old and len(set(v)) > 1:
                d[k] = [max(1, x * new // old) for x in v]


def _stage_index(name, names: list) -> int | None:
    if name in names:
        return names.index(name)
    return None


def _keep_stages_consistent(d: dict, before: dict, rules: dict) -> None:
    """Backbones: stage_names, out_features and out_indices follow the shrunk stage count, and the
    stage count never drops below the number of feature maps a head asks for."""
    names = before.get("stage_names")
    if not isinstance(names, list) or len(names) < 2:
        return
    old_n = len(names) - 1
    idx = before.get("out_indices")
    if not isinstance(idx, list) or not idx:
        feats = before.get("out_features") or []
        idx = [i for i in (_stage_index(f, names) for f in feats) if i is not None]
    wanted = len(idx) or 1
    # which key counted the stages (num_hidden_layers for ViTs, num_layers for Swin), if any
    count_key = next((k for k in rules["layer_keys"] if before.get(k) == old_n and _is_int(d.get(k))), None)
    new_n = old_n
    if count_key:
        new_n = max(d[count_key], min(wanted, old_n))
        d[count_key] = new_n
        for k, v in before.items():
            if isinstance(v, list) and k not in _STAGE_KEYS and len(v) == old_n:
                d[k] = _keep_kinds(v, new_n) if all(isinstance(x, str) for x in v) else v[:new_n]
                if k in rules["head_keys"]:
                    _lower_head_lists(d, rules)
    d["stage_names"] = names[: new_n + 1]
    if idx:
        pos = [i for i in idx if _is_int(i) and i >= 0]
        keep_neg = [i for i in idx if _is_int(i) and i < 0]
        ranks = sorted(set(pos))
        remap = {old: new_n - len(ranks) + r + 1 for r, old in enumerate(ranks)} if len(ranks) <= new_n else {}
        if remap:
            new_idx = [remap[i] for i in pos] + keep_neg
            if before.get("out_indices") is not None:
                d["out_indices"] = new_idx
            if before.get("out_features") is not None:
                d["out_features"] = [d["stage_names"][i] for i in new_idx]


def _remap_layer_indexes(d: dict, layers_before: dict, rules: dict) -> None:
    """Lists of layer indexes (deepstack_visual_indexes …) point into the shrunk layer stack: distinct
    indexes keep their order and land on the last layers, and the stack keeps enough layers for them."""
    count_key = next((k for k in rules["layer_keys"] if k in layers_before), None)
    if not count_key:
        return
    old_n = layers_before[count_key]
    for k in rules["layer_index_keys"]:
        idx = d.get(k)
        if not (isinstance(idx, list) and idx and all(_is_int(i) and i >= 0 for i in idx)) or max(idx) < d[count_key]:
            continue
        ranks = sorted(set(idx))
        new_n = max(d[count_key], len(ranks))
        if new_n > d[count_key]:
            for key, v in d.items():
                if isinstance(v, list) and len(v) == d[count_key] and key != k:
                    d[key] = (v + [v[-1]] * new_n)[:new_n]
            d[count_key] = new_n
        remap = {old: new_n - len(ranks) + r for r, old in enumerate(ranks)}
        d[k] = [remap[i] for i in idx]
        _ = old_n


def _bound_layer_counts(d: dict, layers_before: dict, rules: dict) -> None:
    """Counts of some of the layers (num_kv_shared_layers, first_k_dense_replace …): "all of them" stays
    all of them; any other count stays below the tiny layer count so both kinds of layer exist."""
    count_key = next((k for k in rules["layer_keys"] if k in layers_before), None)
    if not count_key:
        return
    old, new = layers_before[count_key], d[count_key]
    for k in rules["layer_count_keys"]:
        v = d.get(k)
        if _is_int(v) and k != count_key:
            d[k] = new if v == old else min(v, max(new - 1, 0))


def _trim_layer_dicts(d: dict, layers_before: dict, rules: dict) -> None:
    """Dicts keyed by layer index (per_layer_config: {"05": …, "11": …}) keep only the layers that still
    exist; their entries are re-keyed onto the tiny stack so each kind of layer stays represented."""
    count_key = next((k for k in rules["layer_keys"] if k in layers_before), None)
    if not count_key:
        return
    n = d[count_key]
    for k, v in d.items():
        if k in _SKIP_DICT_KEYS or not (isinstance(v, dict) and v and all(str(x).isdigit() for x in v)):
            continue  # id2label is keyed by class index, not layer index
        if all(int(x) < n for x in v):
            continue
        width = len(next(iter(v))) if all(isinstance(x, str) for x in v) else 0
        items = sorted(v.items(), key=lambda kv: int(kv[0]))[-n:]
        start = n - len(items)
        d[k] = {(str(start + i).zfill(width) if width else start + i): val for i, (_, val) in enumerate(items)}


def _fit_image_to_patches(d: dict, before: dict, rules: dict) -> None:
    """The tiny image size is a whole number of patches; anyres grid pinpoints scale with it."""
    patch = d.get("patch_size")
    for k in rules["image_size_keys"]:
        size = d.get(k)
        if _is_int(size) and _is_int(patch) and patch > 0 and size % patch:
            d[k] = max(patch, size // patch * patch)


def _scale_pinpoints(d: dict, before: dict) -> None:
    """Anyres grid pinpoints scale with the (own or vision sub-config's) image size."""
    pins = d.get("image_grid_pinpoints")
    if not isinstance(pins, list):
        return
    size, old = d.get("image_size"), before.get("image_size")
    if not _is_int(size) and isinstance(d.get("vision_config"), dict):
        size, old = d["vision_config"].get("image_size"), (before.get("vision_config") or {}).get("image_size")
    if _is_int(size) and _is_int(old) and old > size:
        d["image_grid_pinpoints"] = [[max(size, p * size // old) for p in pair] for pair in pins]


def _derive_head_dims(d: dict, before: dict, rules: dict) -> None:
    heads = next((d[k] for k in rules["head_keys"] if _is_int(d.get(k))), None)
    width = next((d[k] for k in rules["width_keys"] if _is_int(d.get(k))), None)
    if not (heads and width):
        return
    head_dim = width // heads
    old_heads = next((before[k] for k in rules["head_keys"] if _is_int(before.get(k))), None)
    old_width = next((before[k] for k in rules["width_keys"] if _is_int(before.get(k))), None)
    for k in rules["head_dim_keys"]:
        # only a head_dim that was derived (width // heads) follows; an explicit one (MLA's rope dim) stays
        if _is_int(d.get(k)) and old_heads and old_width and before.get(k) == old_width // old_heads:
            d[k] = head_dim
    if "head_dim" in d and d["head_dim"] is None and rules.get("fill_missing_head_dim", True):
        d["head_dim"] = head_dim  # released checkpoints set it; some modeling code reads it unguarded
    for k in rules["rotary_dim_keys"]:
        if _is_int(d.get(k)) and d[k] > head_dim:
            d[k] = head_dim
    rope = d.get("rope_parameters") or d.get("rope_scaling")
    hd = d.get("head_dim") if _is_int(d.get("head_dim")) else head_dim
    if isinstance(rope, dict) and isinstance(rope.get("mrope_section"), list):
        sec = rope["mrope_section"]
        half = hd // 2
        if sum(sec) != half and len(sec) == 3:
            a = half // 4
            b = (half - a) // 2
            rope["mrope_section"] = [half - 2 * b, b, b]


def _shrink_one(d: dict, rules: dict, widths: set, ffns: set) -> dict:
    before = copy.deepcopy(d)
    layers_before = {k: d[k] for k in rules["layer_keys"] if _is_int(d.get(k))}
    _lower(d, rules["width_keys"], rules["width"])
    _lower(d, rules["ffn_keys"], rules["ffn"])
    _lower(d, rules["layer_keys"], rules["layers"])
    _lower(d, rules["head_keys"], rules["heads"])
    _lower(d, rules["kv_head_keys"], rules["kv_heads"])
    _lower(d, rules["expert_keys"], rules["experts"])
    _lower(d, rules["position_keys"], rules["positions"])
    _lower(d, rules["vocab_keys"], rules["vocab"])
    _lower(d, rules["image_size_keys"], rules["image_size"])
    _fit_image_to_patches(d, before, rules)
    _lower(d, rules["query_keys"], rules["queries"])
    _lower_head_lists(d, rules)
    _scale_stage_widths(d, before, rules)
    _map_linked_sizes(d, rules, widths, ffns)
    for k, old in layers_before.items():
        _shrink_lists(d, k, old, d[k])
    _keep_stages_consistent(d, before, rules)
    _remap_layer_indexes(d, layers_before, rules)
    _trim_layer_dicts(d, layers_before, rules)
    _bound_layer_counts(d, layers_before, rules)
    experts = min((d[k] for k in rules["expert_keys"] if _is_int(d.get(k))), default=None)
    if experts:
        _lower(d, rules["experts_per_token_keys"], experts)
        _lower(d, rules["expert_group_keys"], max(1, min(rules["expert_groups"], experts // 2)))
    _derive_head_dims(d, before, rules)
    heads = next((d[k] for k in rules["head_keys"] if _is_int(d.get(k))), None)
    for k in rules["kv_head_keys"]:
        if heads and k in d and d[k] is None and _is_int(before.get(rules["head_keys"][0])):
            d[k] = heads  # unset means "as many as query heads"; some modeling code reads it unguarded
        if heads and _is_int(d.get(k)) and heads % d[k]:
            d[k] = 1
    for k, v in _sub_dicts(d):
        d[k] = _shrink_one(v, rules, widths, ffns)
    _scale_pinpoints(d, before)
    return d


def shrink_dict(d: dict, rules: dict) -> dict:
    d = copy.deepcopy(d)
    widths: set = set()
    ffns: set = set()
    _collect_sizes(d, rules, widths, ffns)
    return _shrink_one(d, rules, widths, ffns)
