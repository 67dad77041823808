# -*- Python -*-
import os

import lit.formats
from lit.llvm import llvm_config
from lit.llvm.subst import ToolSubst

config.name = "QUANT_OPT"
config.test_format = lit.formats.ShTest(not llvm_config.use_lit_shell)
config.suffixes = [".mlir", ".test"]
config.excludes = ["Inputs", "unittests", "reference", "CMakeLists.txt", "lit.cfg.py", "lit.site.cfg.py"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.qopt_obj_root, "test")

config.substitutions.append(("%PATH%", config.environment["PATH"]))
config.substitutions.append(("%inputs", os.path.join(config.test_source_root, "Inputs")))
config.substitutions.append(("%reference", os.path.join(config.test_source_root, "reference")))
config.substitutions.append(("%qopt_src", config.qopt_src_root))
# MLIR's .td files, for mlir-tblgen (docs-current.test).
config.substitutions.append(("%mlir_include", os.path.join(config.llvm_tools_dir, "..", "include")))
python = config.python_executable or "python3"
config.substitutions.append(("%python", python))

llvm_config.use_default_substitutions()
llvm_config.with_environment("PATH", config.llvm_tools_dir, append_path=True)

tool_dirs = [config.qopt_tools_dir, config.llvm_tools_dir]
config.substitutions.append(("%quant-opt-path", os.path.join(config.qopt_tools_dir, "quant-opt")))
config.substitutions.append(("%qopt_lib_dir", config.qopt_lib_dir))
config.substitutions.append(("%mlir_opt", os.path.join(config.llvm_tools_dir, "mlir-opt")))
# The quant_opt Python package of this build (python/): %pyqopt runs
# Debian's python3 with it on the path.
if config.qopt_have_python:
    config.available_features.add("python-module")
    config.substitutions.append(
        ("%pyqopt", "env PYTHONPATH=%s %s" % (config.qopt_python_packages_dir, python)))
# quant-opt linked with MLIR/LLVM's static libraries (QOPT_LINK_STATIC_MLIR,
# docs/build.md): test/Build checks its dynamic dependencies and bundle.
if config.qopt_static_mlir:
    config.available_features.add("static-mlir")
config.substitutions.append(("%qopt_obj_root", config.qopt_obj_root))
config.substitutions.append(("%cmake", config.cmake_command))
tools = ["quant-opt", "qopt-capi-test"]
llvm_config.add_tool_substitutions(tools, tool_dirs)

# Cross-checks against independent JavaScript readers need node and npm
# (tests marked `REQUIRES: node` are skipped without them).
import shutil
if shutil.which("node") and shutil.which("npm"):
    config.available_features.add("node")

# A usable CUDA device (nvidia-smi lists a GPU): `--device cuda` then runs
# the kernels (tests marked `REQUIRES: cuda-device`); without one it is an
# error (`UNSUPPORTED: cuda-device`).
import subprocess
try:
    if shutil.which("nvidia-smi") and subprocess.run(
            ["nvidia-smi", "-L"], capture_output=True, timeout=20).stdout.strip():
        config.available_features.add("cuda-device")
except Exception:
    pass
