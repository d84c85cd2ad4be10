"""How the graphs of this package run on a CPU: threads, towers, memory.

None of this changes what a model computes, only how fast (and whether it
fits): the session config, how many towers evaluation uses, and a check that
a training step fits in the memory this machine has free.
"""
import math
import os

import tensorflow.compat.v1 as tf
from tensorflow.core.protobuf import rewriter_config_pb2

# Evaluation: batches of 2000 images; the post's ResNet is fastest cut into
# towers of at most 250 (docs/speed.md).
EVAL_BATCH_SIZE = 2000
EVAL_TOWER_SIZE = 250

# A training step's tensors that are alive at once, as a share of the sum of
# all of them (forward and backward), from the growth of /proc/self/status
# VmHWM over two training steps of the post's ResNet at large batches, with
# a margin.
LIVE_TENSOR_SHARE = 0.3


def num_cores():
  """The number of CPUs this process may run on."""
  try:
    return len(os.sched_getaffinity(0))
  except AttributeError:  # not on Linux
    return os.cpu_count() or 1


def cpu_model():
  """The CPU's model name, as /proc/cpuinfo gives it (for speed reports)."""
  try:
    with open('/proc/cpuinfo') as f:
      for line in f:
        if line.startswith('model name'):
          return line.split(':', 1)[1].strip()
  except OSError:
    pass
  return 'unknown CPU'


def cpu_flags():
  """The CPU's feature flags, as /proc/cpuinfo gives them (a set; empty
  where there is no /proc/cpuinfo)."""
  try:
    with open('/proc/cpuinfo') as f:
      for line in f:
        if line.startswith('flags'):
          return set(line.split(':', 1)[1].split())
  except OSError:
    pass
  return set()


# oneDNN's instruction-set levels, as ONEDNN_MAX_CPU_ISA names them, oldest
# first (oneDNN's doc/performance_considerations/dispatcher_control.md).
ONEDNN_ISAS = ('SSE41', 'AVX', 'AVX2', 'AVX2_VNNI', 'AVX2_VNNI_2',
               'AVX512_CORE', 'AVX512_CORE_VNNI', 'AVX512_CORE_BF16',
               'AVX10_1_512', 'AVX512_CORE_FP16', 'AVX10_1_512_AMX',
               'AVX512_CORE_AMX', 'AVX10_1_512_AMX_FP16',
               'AVX512_CORE_AMX_FP16')


# The kinds of `cpu_kind` with bfloat16 in hardware: AMX's tiles and
# AVX512_BF16's dot products multiply bfloat16 faster than float32
# (bench/results-amx.md, bench/results-bf16.md).
BF16_KINDS = ('amx', 'bf16')


def cpu_kind(flags=None, max_isa=None):
  """The kind of CPU the kernels can use: 'amx' (AVX-512 with AMX tiles:
  Xeons of the 4th generation and later), 'bf16' (AVX-512 with AVX512_BF16
  and no AMX, or AMX capped away: AMD Zen 4, Cooper Lake), 'avx512', 'avx2'
  or 'older'. The first two have bfloat16 in hardware (`BF16_KINDS`).

  Args:
    flags: the CPU's flags; default `cpu_flags()`.
    max_isa: oneDNN's cap; default the ONEDNN_MAX_CPU_ISA environment
      variable (unset, ALL or DEFAULT: no cap).
  """
  flags = cpu_flags() if flags is None else flags
  if max_isa is None:
    max_isa = os.environ.get('ONEDNN_MAX_CPU_ISA', 'ALL')
  max_isa = max_isa.upper()
  cap = (ONEDNN_ISAS.index(max_isa) if max_isa in ONEDNN_ISAS
         else len(ONEDNN_ISAS))

  def allowed(isa):
    return cap >= ONEDNN_ISAS.index(isa)

  avx512 = {'avx512f', 'avx512bw', 'avx512vl', 'avx512dq'} <= flags
  if avx512 and 'amx_bf16' in flags and allowed('AVX512_CORE_AMX'):
    return 'amx'
  if avx512 and ({'avx512_bf16', 'amx_bf16'} & flags) and allowed(
      'AVX512_CORE_BF16'):
    return 'bf16'
  if avx512 and allowed('AVX512_CORE'):
    return 'avx512'
  if 'avx2' in flags and allowed('AVX2'):
    return 'avx2'
  return 'older'


def onednn_enabled():
  """Whether TensorFlow runs its oneDNN kernels (the scripts turn them on
  unless TF_ENABLE_ONEDNN_OPTS=0: `cli.start`)."""
  from tensorflow.python.util import _pywrap_util_port
  return bool(_pywrap_util_port.IsMklEnabled())


def fast_settings(batch_norm, kind=None, cores=None, *, onednn=None,
                  slower_in_towers=False):
  """What trains fastest here: (towers, bfloat16, why).

  As measured on each kind of CPU (docs/speed.md): bfloat16 only where the
  CPU has it in hardware (elsewhere it is emulated, and slower than
  float32); one tower per core with oneDNN's kernels (not reliably faster
  with TensorFlow's Eigen kernels). One graph where `batch_norm` (a network
  whose towers would race to update its moving averages, i.e. batch norm
  without ghost batch norm), or for a network measured `slower_in_towers`
  (`nets_factory.NETWORKS`' `towers_help`).
  """
  kind = kind or cpu_kind()
  cores = cores or num_cores()
  onednn = onednn_enabled() if onednn is None else onednn
  bfloat16 = kind in BF16_KINDS and onednn
  reasons = ['bfloat16: %s' % (
      'the CPU has %s' % ('AMX' if kind == 'amx' else 'AVX512_BF16')
      if bfloat16 else
      'oneDNN is off' if kind in BF16_KINDS else
      'no bfloat16 in this CPU\'s hardware (%s)' % kind)]
  towers = 1
  if cores < 2:
    reasons.append('1 tower: 1 core')
  elif batch_norm:
    reasons.append('1 tower: the network has batch norm')
  elif slower_in_towers:
    reasons.append('1 tower: this network was measured slower in towers')
  elif not onednn:
    reasons.append('1 tower: no faster with TensorFlow\'s Eigen kernels '
                   '(TF_ENABLE_ONEDNN_OPTS=0)')
  else:
    towers = cores
    reasons.append('%d towers: one per core' % cores)
  return towers, bfloat16, '; '.join(reasons)


def eval_towers(batch_size=EVAL_BATCH_SIZE, tower_size=0):
  """Towers for evaluating `batch_size` images a step: one per core, or
  more where a network's towers are best at most `tower_size` images."""
  if not tower_size:
    return num_cores()
  return max(num_cores(), math.ceil(batch_size / tower_size))


def session_config(towers=1, bfloat16=False, threads=0):
  """A `tf.ConfigProto` for a graph of `towers` towers.

  Args:
    towers: with more than one, kernels are single-threaded and the towers
      run side by side, one per inter-op thread, as many threads as cores at
      most; with one, each kernel uses every core (two inter-op threads:
      measured best on 2 cores).
    bfloat16: compute in bfloat16 where it is safe (oneDNN auto mixed
      precision; weights stay float32).
    threads: intra-op threads per kernel; 0: the default above.

  TensorFlow makes its thread pools once, for the first session of the
  process: later sessions share them whatever their config says, so the
  sessions of one script should all use the same towers and threads.
  """
  config = tf.ConfigProto(
      intra_op_parallelism_threads=threads or (1 if towers > 1 else 0),
      inter_op_parallelism_threads=max(min(towers, num_cores()), 2))
  if bfloat16:
    config.graph_options.rewrite_options.auto_mixed_precision_onednn_bfloat16 = (
        rewriter_config_pb2.RewriterConfig.ON)
  return config


def step_bytes(graph, batch_size, towers=1):
  """Estimated peak bytes of one step of `graph` at `batch_size` images.

  Sums the sizes of every tensor whose first dimension is the batch
  (activations, their gradients, the fed images), takes the share of them
  that is alive at once, and adds the variables. With towers, each tower's
  tensors hold `batch_size / towers` images.
  """
  per_image = 0
  for op in graph.get_operations():
    for tensor in op.outputs:
      shape = tensor.shape
      if (shape.rank and tf.compat.dimension_value(shape[0]) is None
          and tensor.dtype != tf.resource and shape[1:].is_fully_defined()):
        per_image += shape[1:].num_elements() * tensor.dtype.size
  # The variables (Adam's slots among them) and one gradient of each.
  fixed = 2 * sum(v.shape.num_elements() * v.dtype.size
                  for v in graph.get_collection(tf.GraphKeys.GLOBAL_VARIABLES))
  return int(per_image * batch_size / towers * LIVE_TENSOR_SHARE) + fixed


def available_bytes():
  """Memory the kernel says is available (MemAvailable), or None."""
  try:
    with open('/proc/meminfo') as f:
      for line in f:
        if line.startswith('MemAvailable:'):
          return int(line.split()[1]) * 1024
  except (OSError, ValueError, IndexError):
    pass
  return None
