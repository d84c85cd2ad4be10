"""resmnist/runtime.py: the kind of CPU and what --fast makes of it, and the
memory a training step needs."""
import re

import pytest

from conftest import (MNIST_DIR, in_training_graph, needs_mnist,
                      one_line_error, run_script)
from resmnist import runtime
from resmnist.recipe import Recipe

AVX2 = {'fma', 'avx', 'avx2'}
AVX512 = AVX2 | {'avx512f', 'avx512bw', 'avx512vl', 'avx512dq', 'avx512cd'}
CASCADE_LAKE = AVX512 | {'avx512_vnni'}
SAPPHIRE_RAPIDS = CASCADE_LAKE | {'avx512_bf16', 'amx_bf16', 'amx_tile'}
ZEN4 = CASCADE_LAKE | {'avx512_bf16'}


@pytest.mark.parametrize('flags, max_isa, kind', [
    (SAPPHIRE_RAPIDS, 'ALL', 'amx'),
    (SAPPHIRE_RAPIDS, 'avx512_core_amx', 'amx'),
    (SAPPHIRE_RAPIDS, 'AVX512_CORE_FP16', 'bf16'),  # AMX capped away
    (SAPPHIRE_RAPIDS, 'AVX512_CORE_BF16', 'bf16'),
    (SAPPHIRE_RAPIDS, 'AVX512_CORE_VNNI', 'avx512'),
    (SAPPHIRE_RAPIDS, 'AVX512_CORE', 'avx512'),
    (SAPPHIRE_RAPIDS, 'AVX2', 'avx2'),
    (CASCADE_LAKE, 'ALL', 'avx512'),
    (ZEN4, 'ALL', 'bf16'),
    (ZEN4, 'AVX512_CORE_AMX', 'bf16'),
    (ZEN4, 'AVX512_CORE', 'avx512'),
    ((CASCADE_LAKE | {'amx_bf16'}) - {'avx512f'}, 'ALL', 'avx2'),  # no AVX-512
    (AVX2, 'DEFAULT', 'avx2'),
    (AVX2, 'AVX512_CORE_AMX', 'avx2'),  # a cap adds nothing
    (AVX2, 'AVX', 'older'),
    ({'sse4_1'}, 'ALL', 'older'),
    (set(), 'ALL', 'older'),  # no /proc/cpuinfo
])
def test_cpu_kind(flags, max_isa, kind):
  assert runtime.cpu_kind(flags, max_isa) == kind


def test_cpu_kind_reads_the_environment(monkeypatch):
  monkeypatch.setenv('ONEDNN_MAX_CPU_ISA', 'AVX2')
  assert runtime.cpu_kind(SAPPHIRE_RAPIDS) == 'avx2'
  monkeypatch.delenv('ONEDNN_MAX_CPU_ISA')
  assert runtime.cpu_kind(SAPPHIRE_RAPIDS) == 'amx'


@pytest.mark.parametrize('batch_norm, kind, cores, onednn, towers, bfloat16', [
    (False, 'amx', 2, True, 2, True),
    (False, 'bf16', 2, True, 2, True),
    (True, 'bf16', 2, True, 1, True),    # towers would race on batch norm
    (False, 'avx512', 2, True, 2, False),
    (False, 'avx2', 2, True, 2, False),
    (False, 'avx2', 2, False, 1, False),  # Eigen's kernels: no faster
    (False, 'bf16', 2, False, 1, False),  # no oneDNN, no bf16 rewrite
    (False, 'amx', 2, False, 1, False),
    (False, 'avx2', 1, True, 1, False),
    (False, 'avx512', 4, True, 4, False),
])
def test_fast_settings(batch_norm, kind, cores, *, onednn, towers, bfloat16):
  chosen = runtime.fast_settings(batch_norm, kind, cores, onednn=onednn)
  assert chosen[:2] == (towers, bfloat16)
  assert ('tower' in chosen[2]) and ('bfloat16' in chosen[2])


def test_fast_settings_one_graph_for_networks_slower_in_towers():
  towers, _, why = runtime.fast_settings(False, 'avx512', 2, onednn=True,
                                         slower_in_towers=True)
  assert towers == 1 and 'slower in towers' in why


def test_onednn_is_on():
  # resmnist turns it on unless the environment said otherwise.
  import os
  assert runtime.onednn_enabled() == (
      os.environ.get('TF_ENABLE_ONEDNN_OPTS') != '0')


def test_memory_estimate_grows_with_the_batch_and_towers(tmp_path):
  small, large = in_training_graph(Recipe(), tmp_path / 'one', lambda s: [
      runtime.step_bytes(s.graph, b) for b in (100, 10000)])
  # Measured peaks (runtime.LIVE_TENSOR_SHARE): about 0.8 GB more at 1,000.
  assert 0.05e9 < small < 0.3e9
  assert 80 < large / small < 100
  towers = in_training_graph(Recipe(towers=2), tmp_path / 'two', lambda s: (
      runtime.step_bytes(s.graph, 10000, towers=2)))
  assert abs(towers - large) < 0.05 * large


@needs_mnist
@pytest.mark.slow
def test_step_too_big_for_memory_is_refused(tmp_path):
  needed = in_training_graph(Recipe(), tmp_path / 'graph', lambda s: (
      runtime.step_bytes(s.graph, 50000)))
  available = runtime.available_bytes()
  if available is None or available > needed:
    pytest.skip('this machine has room for a step of 50,000 images')
  result = run_script('res_mnist.py', '--data_dir=' + MNIST_DIR,
                      '--model_dir=%s' % tmp_path, '--batch_size=50000')
  line = one_line_error(result)
  assert re.search(r'a training step of --batch_size=50000 needs about [\d.]+ '
                   r'GB of memory, and [\d.]+ GB is available; use a smaller '
                   r'--batch_size$', line), line
