"""The settings of a run (resmnist/recipe.py): declared once, as flags, as a
Recipe, and the presets."""
import dataclasses
import json
import os
import re
import subprocess
import sys

import pytest

from conftest import ROOT, one_line_error, run_script
from nets import models
from nets import nets_factory
from resmnist import recipe as recipes
from resmnist import runtime
from resmnist import optimization
from resmnist.recipe import LoopSettings, Recipe


@pytest.mark.slow
def test_preset_best_with_overrides(small_data, tmp_path):
  model_dir = str(tmp_path / 'best')
  result = run_script('res_mnist.py', '--preset=best', '--epochs=0.2',
                      '--data_dir=' + small_data, '--model_dir=' + model_dir,
                      '--nocheck_sha256', '--validation_size=100',
                      '--eval_every=1', '--log_every=1', '--nobfloat16',
                      '--cutout=6')
  assert result.returncode == 0, result.stderr
  with open(os.path.join(model_dir, 'model.json')) as f:
    assert json.load(f)['recipe']['cutout'] == 6
  # 0.2 epochs of 500 images at the default batch of 100: one step.
  assert re.findall(r'^training step (\d+),', result.stdout, re.M) == ['1']
  assert os.path.exists(os.path.join(model_dir, 'best', 'checkpoint'))
  # The preset is --fast: one tower (batch norm), bf16 as given.
  assert re.search(r'^--fast on .+: --towers=1 --nobfloat16 \(bfloat16: .+; '
                   r'1 tower: the network has batch norm; --bfloat16 as '
                   r'given\)$', result.stdout, re.M), result.stdout


@pytest.mark.slow
def test_preset_fast(small_data, tmp_path):
  model_dir = str(tmp_path / 'fast')
  result = run_script('res_mnist.py', '--preset=fast', '--data_dir=' + small_data,
                      '--model_dir=' + model_dir, '--nocheck_sha256',
                      '--validation_size=100', '--log_every=1', '--nobfloat16')
  assert result.returncode == 0, result.stderr
  # 0.65 epoch of 500 training images at batch 100: 4 steps (3.25 rounded up).
  assert re.findall(r'^training step (\d+),', result.stdout, re.M) == [
      '1', '2', '3', '4']
  with open(os.path.join(model_dir, 'model.json')) as f:
    recipe = json.load(f)['recipe']
  assert {key: recipe[key] for key in (
      'augment', 'lr_schedule', 'learning_rate', 'warmup_steps',
      'weight_decay', 'label_smoothing', 'batch_size', 'max_steps',
      'bfloat16')} == {
          'augment': True, 'lr_schedule': 'cosine', 'learning_rate': 0.005,
          'warmup_steps': 30, 'weight_decay': 5e-5, 'label_smoothing': 0.1,
          'batch_size': 100, 'max_steps': 4, 'bfloat16': False}
  # --fast: one tower per core (no batch norm here).
  assert recipe['towers'] == runtime.num_cores()
  assert re.search(r'^--fast on .+: --towers=%d --nobfloat16 ' % recipe['towers'],
                   result.stdout, re.M), result.stdout




@pytest.mark.slow
def test_every_setting_is_a_flag_with_its_default_and_help():
  program = '''
import dataclasses, json, sys
sys.path.insert(0, %r)
from absl import flags
from resmnist import recipe
recipe.define_flags(recipe.Recipe, choices={'net': ['resnet', 'lenet5']})
recipe.define_flags(recipe.LoopSettings)
flags.FLAGS(['x', '--batch_size=7', '--net=lenet5'])
print(json.dumps({name: [flags.FLAGS[name].default, flags.FLAGS[name].help,
                         flags.FLAGS[name].value]
                  for name in flags.FLAGS if name in recipe.FIELDS + tuple(
                      f.name for f in dataclasses.fields(recipe.LoopSettings))}))
''' % ROOT
  result = subprocess.run([sys.executable, '-c', program], capture_output=True,
                          text=True, timeout=120)
  assert result.returncode == 0, result.stderr
  defined = json.loads(result.stdout)
  for settings_class in (Recipe, LoopSettings):
    for field in dataclasses.fields(settings_class):
      default, help_text, _ = defined[field.name]
      assert default == field.default
      assert help_text.endswith(field.metadata['help'])  # enums: '<a|b>: '
  assert defined['batch_size'][2] == 7 and defined['net'][2] == 'lenet5'


@pytest.mark.parametrize('changes,message', [
    (dict(batch_size=0), '--batch_size=0 is less than 1'),
    (dict(learning_rate=0.0), '--learning_rate=0.0 must be greater than 0'),
    (dict(cutout=29), '--cutout=29 is more than 28'),
    (dict(lr_schedule='linear'), '--lr_schedule=linear is not one of'),
    (dict(dataset='cifar'), '--dataset=cifar is not one of fashion_mnist'),
])
def test_a_recipe_out_of_bounds_is_refused(changes, message):
  with pytest.raises(recipes.SettingError, match=re.escape(message)):
    Recipe(**changes)


@pytest.mark.slow
def test_bounds_are_flag_errors_too(tmp_path):
  result = run_script('res_mnist.py', '--learning_rate=0', '--model_dir=%s'
                      % tmp_path)
  assert one_line_error(result) == (
      'res_mnist.py: error: flag --learning_rate=0.0: must be greater than 0')


def test_presets_set_only_declared_settings():
  declared = set(recipes.FIELDS) | {
      f.name for f in dataclasses.fields(LoopSettings)}
  for name, preset in recipes.PRESETS.items():
    assert set(preset) <= declared, name
    fields = {k: v for k, v in preset.items() if k in recipes.FIELDS}
    Recipe(**fields)  # within bounds


def test_preset_sprint_trains_sprint_cnn_on_every_image():
  sprint = recipes.PRESETS['sprint']
  recipe = Recipe(**{k: v for k, v in sprint.items() if k in recipes.FIELDS})
  assert nets_factory.network(recipe.net).batch_norm is True
  assert recipe.validation_size == 0 and not LoopSettings(
      save_every=sprint['save_every']).eval_every
  # 1.1 epochs of 60,000 images: 516 steps, one checkpoint, at the end.
  assert recipe.with_epochs(60000).max_steps == 516 < sprint['save_every']
  # --fast: bfloat16 where the CPU has it, and towers as a network without
  # batch norm gets (sprint_cnn's towers each normalise their own slice).
  assert recipe.fast and models.fast_settings(recipe)[:2] == (
      runtime.fast_settings(batch_norm=False)[:2])


def test_preset_fashion_hour_trains_wide_resnet_on_clothes():
  preset = recipes.PRESETS['fashion_hour']
  recipe = Recipe(**{k: v for k, v in preset.items() if k in recipes.FIELDS})
  assert (recipe.net, recipe.dataset) == ('wide_resnet', 'fashion_mnist')
  assert nets_factory.network(recipe.net).batch_norm is True
  # 20 epochs of the 55,000 images left after validation, validated each.
  assert recipe.with_epochs(55000).max_steps == 8594
  assert preset['eval_every'] == -(-55000 // recipe.batch_size)


def test_preset_mnist_hour_trains_the_posts_resnet_without_batch_norm():
  preset = recipes.PRESETS['mnist_hour']
  recipe = Recipe(**{k: v for k, v in preset.items() if k in recipes.FIELDS})
  assert (recipe.net, recipe.dataset, recipe.batch_norm) == (
      'resnet', 'mnist', False)
  # 35 epochs of all 60,000 images, the last quarter averaged (SWA).
  assert recipe.validation_size == 0 and 'eval_every' not in preset
  assert recipe.with_epochs(60000).max_steps == 21000
  assert optimization.swa_start_step(recipe.with_epochs(60000)) == 15750
  assert recipe.moving_average_decay == 0


def test_epochs_become_steps():
  assert Recipe(epochs=0.65).with_epochs(55000).max_steps == 358
  assert Recipe(max_steps=42).with_epochs(55000).max_steps == 42


@pytest.mark.slow
def test_help_lists_every_setting():
  result = run_script('res_mnist.py', '--help')  # absl exits 1 after it
  listed = set(re.findall(r'^  --(?:\[no\])?(\w+)', result.stdout, re.M))
  settings = set(recipes.FIELDS) | {f.name for f in
                                    dataclasses.fields(LoopSettings)}
  assert settings | {'preset', 'data_dir', 'check_sha256'} <= listed
