"""The fit planner on a table of machines, against expectations worked out by hand.

The arithmetic (decimal GB), with GPU_OVERHEAD 1.5 and RAM_HEADROOM 4 (see desktop/core/fit.py):
Scout's KV cache at 8,192 tokens = 196,608 B x 8,192 = 1.61 GB; experts are 90% of the file, in
48 layers. For Q4_K_M (65.4 GB): experts 58.86 GB (1.226 GB a layer), the rest 6.54 GB.

* 24 GB NVIDIA (23.5 free) + 64 GB RAM: GPU budget 22.0, RAM budget 60.
  Q4_K_M: base 6.54 + 1.61 = 8.15 on the GPU; ceil((8.15 + 58.86 - 22.0) / 1.226) = 37 layers of
  experts to RAM = 45.4 GB <= 60: experts in RAM (37).
  UD-IQ1_S (33.8): experts 30.42 (0.634/layer), base 3.38 + 1.61 = 4.99:
  ceil((4.99 + 30.42 - 22.0) / 0.634) = 22.
  Q6_K (88.4): 42 layers = 69.6 GB > 60, and no partial or CPU fit either: does not fit.
* 8 GB NVIDIA (7.6 free) + 32 GB RAM: GPU 6.1, RAM 28. UD-IQ1_S: 47 layers' experts = 29.8 > 28;
  6 layers on GPU leaves 29.6 > 28; CPU needs 35.4 > 28: Scout does not fit at all.
  Llama 3.1 8B Q4_K_M (4.92 + KV 1.07 = 5.99 <= 6.1): all on the GPU.
* Mac, 64 GB unified, Metal limit 48: GPU budget 46.5, everything within 60 in total.
  UD-Q2_K_XL: 42.2 + 1.61 = 43.8 <= 46.5: all on the GPU. UD-Q3_K_XL: 54.5 > 46.5,
  ceil((6.90 + 47.61 - 46.5) / 0.992) = 9 layers' experts on the CPU side, 54.5 <= 60 in total.
  UD-Q4_K_XL: 65.6 > 60: does not fit.
* Mac, 128 GB, Metal limit 96: Q6_K 90.0 <= 94.5 on the GPU; Q8_0 (114.5):
  ceil((11.45 + 1.61 + 103.05 - 94.5) / 2.147) = 11 layers' experts, 116.1 <= 124 in total.
* CPU only, 32 GB: Scout never fits (UD-IQ1_S needs 35.4 > 28); Llama 3.1 8B Q4_K_M runs on
  the CPU; Llama 3.3 70B IQ2_M (24.1 + KV 2.68 = 26.8 <= 28) too, Q4_K_M (45.2) does not.
"""

from __future__ import annotations

import dataclasses

import pytest

from desktop.backends.catalog_file import load_catalog
from desktop.core.catalog import GB, CatalogModel, Quant
from desktop.core.fit import (
    Fit,
    Gpu,
    Machine,
    Verdict,
    cpu_speedup,
    kv_cache_bytes,
    plan,
    plan_quant,
    quant_bits,
    recommend,
    reinstall_command,
    why_recommended,
)
from desktop.core.fit_report import fit_report, render_fit_table

CATALOG = load_catalog()
SCOUT = CATALOG.get("llama-4-scout-17b-16e-instruct")
L8B = CATALOG.get("llama-3.1-8b-instruct")
L70B = CATALOG.get("llama-3.3-70b-instruct")


def nvidia(total_gb: float, free_gb: float, ram_gb: int) -> Machine:
    return Machine(
        system="Linux",
        ram_total=ram_gb * GB,
        ram_available=ram_gb * GB,
        disk_free=500 * GB,
        gpus=(Gpu("NVIDIA GeForce", "nvidia", int(total_gb * GB), int(free_gb * GB)),),
        offload_supported=True,
        backend="CUDA",
    )


def mac(ram_gb: int) -> Machine:
    return Machine(
        system="Darwin",
        ram_total=ram_gb * GB,
        ram_available=ram_gb * GB,
        disk_free=500 * GB,
        gpus=(Gpu("Apple M-series", "apple", ram_gb * GB),),
        unified_memory=True,
        gpu_working_set=int(ram_gb * 0.75 * GB),
        offload_supported=True,
        backend="Metal",
    )


CPU_32 = Machine(system="Linux", ram_total=32 * GB, ram_available=30 * GB, disk_free=500 * GB)
RTX_24 = nvidia(24, 23.5, 64)
RTX_8 = nvidia(8, 7.6, 32)
MAC_64 = mac(64)
MAC_128 = mac(128)


def fit_of(model: CatalogModel, machine: Machine, quant: str, repo_prefix: str = "unsloth") -> Fit:
    chosen = next(q for q in model.quants if q.quant == quant and q.repo.startswith(repo_prefix))
    return plan_quant(model, chosen, machine, model.default_context)


def test_scout_kv_cache_matches_the_published_figure() -> None:
    assert SCOUT.architecture.kv_bytes_per_token() == 196_608  # 192 KiB per token
    assert kv_cache_bytes(SCOUT, 8192) == pytest.approx(1.5 * 2**30, rel=0.01)
    assert kv_cache_bytes(SCOUT, 32768) == pytest.approx(6 * 2**30, rel=0.01)


@pytest.mark.parametrize(
    ("machine", "quant", "verdict", "n_cpu_moe"),
    [
        (RTX_24, "Q4_K_M", Verdict.EXPERTS_IN_RAM, 37),
        (RTX_24, "UD-IQ1_S", Verdict.EXPERTS_IN_RAM, 22),
        (RTX_8, "UD-IQ1_S", Verdict.NO_FIT, 0),
        (RTX_8, "Q4_K_M", Verdict.NO_FIT, 0),
        (MAC_64, "UD-Q2_K_XL", Verdict.FULL_GPU, 0),
        (MAC_64, "UD-Q3_K_XL", Verdict.EXPERTS_IN_RAM, 9),
        (MAC_64, "UD-Q4_K_XL", Verdict.NO_FIT, 0),
        (MAC_128, "Q4_K_M", Verdict.FULL_GPU, 0),
        (CPU_32, "UD-IQ1_S", Verdict.NO_FIT, 0),
    ],
)
def test_scout_on_machines(machine: Machine, quant: str, verdict: Verdict, n_cpu_moe: int) -> None:
    fit = fit_of(SCOUT, machine, quant)
    assert fit.verdict == verdict, fit.describe()
    assert fit.n_cpu_moe == n_cpu_moe
    if verdict == Verdict.EXPERTS_IN_RAM:
        assert f"experts of {n_cpu_moe} of 48 layers" in fit.describe()
        assert fit.gpu_bytes <= machine.gpu_budget
        assert fit.gpu_bytes + fit.ram_bytes == fit.total_bytes


@pytest.mark.parametrize(
    ("machine", "model", "quant", "verdict"),
    [
        (RTX_24, SCOUT, "Q6_K", Verdict.NO_FIT),
        (MAC_128, SCOUT, "Q6_K", Verdict.FULL_GPU),
        (MAC_128, SCOUT, "Q8_0", Verdict.EXPERTS_IN_RAM),
        (RTX_8, L8B, "Q4_K_M", Verdict.FULL_GPU),
        (RTX_8, L8B, "Q8_0", Verdict.PARTIAL_GPU),
        (CPU_32, L8B, "Q4_K_M", Verdict.CPU_ONLY),
        (CPU_32, L70B, "IQ2_M", Verdict.CPU_ONLY),
        (CPU_32, L70B, "Q4_K_M", Verdict.NO_FIT),
    ],
)
def test_other_quants_and_models(
    machine: Machine, model: CatalogModel, quant: str, verdict: Verdict
) -> None:
    assert fit_of(model, machine, quant, repo_prefix="").verdict == verdict


def test_mac_128_q8_offloads_eleven_layers_of_experts() -> None:
    assert fit_of(SCOUT, MAC_128, "Q8_0", repo_prefix="").n_cpu_moe == 11


def test_partial_gpu_layer_count_for_8b_q8_on_8gb() -> None:
    # per layer 8.54 / 32 = 0.267 GB; floor((6.1 - 1.07) / 0.267) = 18 layers on the GPU.
    assert fit_of(L8B, RTX_8, "Q8_0", repo_prefix="").n_gpu_layers == 18


def test_recommendations() -> None:
    best = recommend(plan(SCOUT, RTX_24))
    assert best is not None and best.verdict == Verdict.EXPERTS_IN_RAM
    assert best.quant.quant == "Q4_K_M" and best.quant.repo.startswith("unsloth")
    assert recommend(plan(SCOUT, RTX_8)) is None
    assert recommend(plan(SCOUT, CPU_32)) is None
    mac64 = recommend(plan(SCOUT, MAC_64))
    assert mac64 is not None and mac64.quant.quant == "UD-Q2_K_XL"
    assert mac64.verdict == Verdict.FULL_GPU
    mac128 = recommend(plan(SCOUT, MAC_128))
    assert mac128 is not None and mac128.quant.quant == "Q6_K"


def test_longer_context_costs_memory_and_can_change_the_verdict() -> None:
    short = plan_quant(SCOUT, SCOUT.quant("UD-Q2_K_XL"), MAC_64, 8192)
    long = plan_quant(SCOUT, SCOUT.quant("UD-Q2_K_XL"), MAC_64, 32768)
    assert long.kv_bytes == 4 * short.kv_bytes
    assert short.verdict == Verdict.FULL_GPU
    assert long.verdict == Verdict.EXPERTS_IN_RAM  # 42.2 + 6.44 > 46.5


def test_gpu_without_a_gpu_build_says_so_and_how_to_fix() -> None:
    no_build = Machine(
        system="Linux",
        ram_total=64 * GB,
        ram_available=60 * GB,
        disk_free=500 * GB,
        gpus=(Gpu("RTX 4090", "nvidia", 24 * GB, int(23.5 * GB)),),
        offload_supported=False,
    )
    fit = fit_of(SCOUT, no_build, "Q4_K_M")
    assert fit.needs_gpu_build
    assert "after reinstalling llama-cpp-python with GPU support" in fit.describe()
    assert reinstall_command("Linux", no_build.gpus) == (
        'CMAKE_ARGS="-DGGML_CUDA=on" pip install --force-reinstall --no-cache-dir llama-cpp-python'
    )
    assert "GGML_METAL" in (reinstall_command("Darwin", ()) or "")
    assert "GGML_VULKAN" in (reinstall_command("Linux", (Gpu("Radeon", "amd", 16 * GB),)) or "")
    assert (reinstall_command("Windows", no_build.gpus) or "").startswith("$env:CMAKE_ARGS=")
    assert reinstall_command("Linux", ()) is None


# -- on the CPU only: the quant people pick for speed there, not the biggest that runs --------

L3B = CATALOG.get("llama-3.2-3b-instruct")


def cpu_only(ram_gb: int) -> Machine:
    return Machine(
        system="Linux", ram_total=ram_gb * GB, ram_available=ram_gb * GB, disk_free=500 * GB
    )


def with_quants(model: CatalogModel, *names: str) -> CatalogModel:
    """The model with made-up quants, each sized as its bits say (8B parameters)."""
    sizes = {"Q2_K": 3.2, "Q3_K_M": 4.0, "IQ4_XS": 4.5, "Q4_K_S": 4.7, "Q5_K_M": 5.7}
    sizes |= {"Q4_0": 4.7, "Q6_K": 6.6, "Q8_0": 8.5, "F16": 16.1}
    quants = tuple(
        Quant(repo="someone/Model-GGUF", quant=n, pattern=f"*{n}*", size_bytes=int(sizes[n] * GB))
        for n in names
    )
    return dataclasses.replace(model, quants=quants)


@pytest.mark.parametrize(
    ("name", "bits"),
    [
        ("Q4_K_M", 4),
        ("UD-Q4_K_XL", 4),
        ("IQ4_XS", 4),
        ("UD-IQ1_S", 1),
        ("IQ2_XXS", 2),
        ("Q5_K_M", 5),
        ("Q6_K", 6),
        ("Q8_0", 8),
        ("Q4_1", 4),
        ("F16", 16),
        ("BF16", 16),
        ("", None),
    ],
)
def test_quant_bits_reads_llama_cpp_names(name: str, bits: int | None) -> None:
    assert quant_bits(name) == bits


def test_cpu_only_recommends_q4_k_m_over_q8_0_and_says_why() -> None:
    # The case: Llama 3.2 3B on a CPU-only machine where Q8_0 runs too. The biggest
    # quant was recommended; on a CPU it is 3.42 / 2.02 = 1.7x slower for little quality.
    fits = plan(L3B, cpu_only(16))
    assert [f.verdict for f in fits] == [Verdict.CPU_ONLY, Verdict.CPU_ONLY]
    best = recommend(fits)
    assert best is not None and best.quant.quant == "Q4_K_M"
    assert why_recommended(best, fits) == (
        "runs on the CPU only; Q4_K_M answers about 1.7× faster than Q8_0 here, "
        "at near the same quality"
    )


def test_cpu_only_with_one_quant_that_runs_says_nothing_about_speed() -> None:
    fits = plan(L3B, cpu_only(8))  # RAM budget 4 GB: Q8_0 (3.42 + 0.94) does not fit
    best = recommend(fits)
    assert best is not None and best.quant.quant == "Q4_K_M"
    assert cpu_speedup(best, fits) is None
    assert why_recommended(best, fits) == "runs on the CPU only (slow)"


def test_cpu_only_8b_and_scout_pick_q4_k_m_in_catalog_order() -> None:
    best = recommend(plan(L8B, CPU_32))  # Q4_K_M, Q6_K and Q8_0 all run
    assert best is not None and best.quant.quant == "Q4_K_M"
    scout = recommend(plan(SCOUT, cpu_only(256)))  # everything runs, Q8_0 included
    assert scout is not None and scout.quant.quant == "Q4_K_M"
    assert scout.quant.repo.startswith("unsloth")  # the first Q4_K_M, not UD-Q4_K_XL
    assert "about 1.8× faster than Q8_0" in why_recommended(scout, plan(SCOUT, cpu_only(256)))


@pytest.mark.parametrize(
    ("quants", "ram_gb", "expected"),
    [
        # Without Q4_K_M, its nearest kin; never a sub-4-bit quant when a 4-bit one runs.
        (("Q2_K", "Q3_K_M", "IQ4_XS", "Q4_K_S", "Q5_K_M", "Q8_0"), 64, "Q4_K_S"),
        (("Q2_K", "Q3_K_M", "Q5_K_M", "Q8_0"), 64, "Q5_K_M"),
        (("Q2_K", "Q3_K_M", "IQ4_XS", "Q8_0"), 64, "IQ4_XS"),
        (("Q3_K_M", "Q4_0", "Q8_0"), 64, "Q4_0"),
        # Nothing of 4-5 bits: the smallest of the bigger ones (fastest, quality alike).
        (("Q6_K", "Q8_0", "F16"), 64, "Q6_K"),
        # Only sub-4-bit quants run (RAM budget 5 GB): the biggest of them, for quality.
        (("Q2_K", "Q3_K_M", "Q4_K_S", "Q8_0"), 9, "Q3_K_M"),
    ],
)
def test_cpu_only_choice_without_q4_k_m(
    quants: tuple[str, ...], ram_gb: int, expected: str
) -> None:
    model = with_quants(L8B, *quants)
    best = recommend(plan(model, cpu_only(ram_gb), 4096))
    assert best is not None and best.verdict == Verdict.CPU_ONLY
    assert best.quant.quant == expected


def test_a_gpu_still_gets_the_biggest_quant_that_runs_the_best_way() -> None:
    model = with_quants(L8B, "Q4_K_S", "Q5_K_M", "Q8_0")
    best = recommend(plan(model, nvidia(24, 23.5, 64), 4096))
    assert best is not None and best.verdict == Verdict.FULL_GPU
    assert best.quant.quant == "Q8_0"
    assert why_recommended(best, plan(model, nvidia(24, 23.5, 64), 4096)) == best.describe()


def test_cli_fit_table_gives_the_cpu_reason() -> None:
    fits = plan(L3B, cpu_only(16))
    best = recommend(fits)
    text = render_fit_table(L3B, cpu_only(16), fits, best, None)
    marked = [line for line in text.splitlines() if line.endswith("<- recommended")]
    assert len(marked) == 1 and " Q4_K_M " in marked[0]
    assert "Recommended: bartowski Q4_K_M, which runs on the CPU only; Q4_K_M answers" in text
    report = fit_report(L3B, cpu_only(16), fits, best, None)
    assert [q["recommended"] for q in report["quants"]] == [True, False]
    assert "1.7× faster than Q8_0" in report["recommended_because"]


def test_the_vision_projector_counts_in_the_plan_and_shows_as_its_own_line() -> None:
    """A quant downloaded with its projector: its file (1.7 GB) and compute buffer (0.5 GB) sit
    whole beside the KV cache, so on a 24 GB card the experts of more layers go to RAM:
    base 6.54 + 1.61 + 2.2 = 10.35; ceil((10.35 + 58.86 - 22.0) / 1.226) = 39 (37 without).
    The report names the projector on a line of its own."""
    quant = next(q for q in SCOUT.quants if q.quant == "Q4_K_M" and q.repo.startswith("unsloth"))
    assert quant.mmproj == "mmproj-F16.gguf"
    with_eyes = plan_quant(SCOUT, quant, RTX_24, 8192, vision=True)
    blind = plan_quant(SCOUT, quant, RTX_24, 8192)
    assert with_eyes.projector_bytes == int(1.7 * GB) + GB // 2
    assert blind.projector_bytes == 0
    assert with_eyes.total_bytes == blind.total_bytes + with_eyes.projector_bytes
    assert with_eyes.kv_bytes == blind.kv_bytes  # the KV cache itself is unchanged
    assert (with_eyes.n_cpu_moe, blind.n_cpu_moe) == (39, 37)
    assert with_eyes.gpu_bytes + with_eyes.ram_bytes == with_eyes.total_bytes
    # A quant that names no projector plans alike either way.
    plain = dataclasses.replace(quant, mmproj="")
    assert plan_quant(SCOUT, plain, RTX_24, 8192, vision=True).n_cpu_moe == 37
    # Its own published size wins over the model's reference projector's.
    sized = dataclasses.replace(quant, mmproj_size_bytes=int(0.9 * GB))
    assert plan_quant(SCOUT, sized, RTX_24, 8192, vision=True).projector_bytes == int(1.4 * GB)
    fits = plan(SCOUT, RTX_24)  # as downloaded: with the projectors
    assert next(f for f in fits if f.quant == quant) == with_eyes
    text = render_fit_table(SCOUT, RTX_24, fits, recommend(fits), None)
    assert "unsloth: Vision projector 1.7 GB + 500 MB compute" in text
    assert "ggml-org: Vision projector 1.7 GB" in text
    assert "lmstudio-community: Vision" not in text  # no projector named for that repo
    report = fit_report(SCOUT, RTX_24, fits, None, None)
    row = next(q for q in report["quants"] if q["repo"].startswith("unsloth"))
    assert row["projector_bytes"] == int(2.2 * GB) and row["mmproj"] == "mmproj-F16.gguf"
