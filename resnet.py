"""The shortcut blocks of the ResNet, built with tf-slim's defaults.

Every `slim.conv2d` here has bias, Xavier weights, SAME padding and its own
ReLU (the original passes no `activation_fn`), so the ReLU of the last conv
runs before the shortcut add; that is the original's graph and is kept.
Batch norm, when asked for, comes from an enclosing `slim.arg_scope` on
`slim.conv2d` (see `res_mnist_inference.inference`), not from these blocks.
"""
from resmnist import slim  # tf-slim on today's TensorFlow: see resmnist/__init__.py
import tensorflow.compat.v1 as tf


def res_identity(input_tensor, conv_depth, kernel_shape, layer_name):
  """Identity block: relu(conv(relu(conv(x))) + x), same shape as `x`.

  Args:
    input_tensor: `[batch, height, width, conv_depth]` tensor.
    conv_depth: number of filters of both convolutions.
    kernel_shape: `[kh, kw]` of both convolutions.
    layer_name: variable scope of the block, e.g. 'layer_2'.

  Returns:
    A tensor of the shape of `input_tensor`.
  """
  with tf.variable_scope(layer_name):
    relu = tf.nn.relu(slim.conv2d(input_tensor, conv_depth, kernel_shape))
    outputs = tf.nn.relu(slim.conv2d(relu, conv_depth, kernel_shape) + input_tensor)
  return outputs


def res_change(input_tensor, conv_depth, kernel_shape, layer_name):
  """Projection block: halves height and width, changes depth to `conv_depth`.

  The shortcut is a 1x1 stride-2 convolution so that it matches the main
  path, a 3x3 stride-2 convolution followed by a 3x3 one.

  Args:
    input_tensor: `[batch, height, width, channels]` tensor.
    conv_depth: number of filters of the output.
    kernel_shape: `[kh, kw]` of the main path's convolutions.
    layer_name: variable scope of the block, e.g. 'layer_5'.

  Returns:
    A `[batch, ceil(height / 2), ceil(width / 2), conv_depth]` tensor.
  """
  with tf.variable_scope(layer_name):
    relu = tf.nn.relu(slim.conv2d(input_tensor, conv_depth, kernel_shape, stride=2))
    input_tensor_reshape = slim.conv2d(input_tensor, conv_depth, [1, 1], stride=2)
    outputs = tf.nn.relu(slim.conv2d(relu, conv_depth, kernel_shape)
                         + input_tensor_reshape)
  return outputs
