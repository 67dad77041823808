# How quant-opt's targets link MLIR, LLVM and the tokenizer's libraries
# (docs/build.md, "Static MLIR").
#
# Debian's MLIR/LLVM come both as the shared libMLIR.so / libLLVM.so and as
# static component libraries (libMLIRIR.a, libLLVMSupport.a, ...). A target
# whose QOPT_STATIC_MLIR property is ON (qopt_link_static_mlir) links the
# static ones: only the code it uses is mapped, no dynamic symbol resolution
# of two 100 MB libraries at start-up, and the binary runs where MLIR is not
# installed. Every other target (the mlir-opt plugin, libQuantOptCAPI.so, the
# Python module, the installed package's consumers) links the shared ones:
# a plugin loaded into Debian's mlir-opt must share its libMLIR.so.
#
# The choice is made per final (linked) target, not per library: the
# libraries link the interface targets below, whose link items are generator
# expressions on the linking target's QOPT_STATIC_MLIR. One static library
# (QOptWeightsTransforms, say) thus goes into quant-opt with the static MLIR
# and into QuantOptPlugin.so with libMLIR.so, and no binary ever holds both
# (LLVM's command-line options would be registered twice).

option(QOPT_LINK_STATIC_MLIR
  "Link quant-opt and the other tools against MLIR/LLVM's static component libraries" ON)

set(_qopt_static "$<BOOL:$<TARGET_PROPERTY:QOPT_STATIC_MLIR>>")

# The LLVM components: Support for the libraries (llvm::Error, FileSystem,
# CommandLine) and MLIR; Remarks for MLIR's remark streamer (MLIROptLib).
# Debian's export of the MLIR libraries lost their LLVM components (they
# name "LLVM", the shared library), so this list stands for them.
llvm_map_components_to_libnames(QOPT_LLVM_STATIC_LIBS Support Remarks)
# The MLIR libraries the dialect, its passes and the C++ API use (the tool
# adds MLIROptLib, see qopt_link_static_mlir); the rest come through their
# own link interfaces.
set(QOPT_MLIR_STATIC_LIBS MLIRIR MLIRParser MLIRPass MLIRTransforms
  MLIRFuncDialect MLIRQuantDialect MLIRSideEffectInterfaces)

# QOptLLVMLibs / QOptMLIRLibs: what a library lists where it would list
# LLVM / MLIR. Installed (QuantOpt::LLVMLibs, QuantOpt::MLIRLibs) they are
# plainly the shared libraries: the installed MLIR package's static targets
# still name libLLVM.so.
add_library(QOptLLVMLibs INTERFACE)
set_target_properties(QOptLLVMLibs PROPERTIES EXPORT_NAME LLVMLibs)
target_link_libraries(QOptLLVMLibs INTERFACE
  "$<BUILD_INTERFACE:$<IF:${_qopt_static},${QOPT_LLVM_STATIC_LIBS},LLVM>>"
  "$<INSTALL_INTERFACE:LLVM>")
add_library(QOptMLIRLibs INTERFACE)
set_target_properties(QOptMLIRLibs PROPERTIES EXPORT_NAME MLIRLibs)
target_link_libraries(QOptMLIRLibs INTERFACE
  "$<BUILD_INTERFACE:$<IF:${_qopt_static},${QOPT_MLIR_STATIC_LIBS},MLIR>>"
  "$<INSTALL_INTERFACE:MLIR>" QOptLLVMLibs)
install(TARGETS QOptLLVMLibs QOptMLIRLibs EXPORT QuantOptTargets)

# Debian's LLVM is built with LLVM_LINK_LLVM_DYLIB, so its static MLIR
# libraries' link interfaces name the shared libLLVM.so ("LLVM"). In this
# project (the imported targets are only changed here, not in the installed
# MLIR package) they name QOptLLVMLibs instead, so that a static target gets
# the static LLVM components and a shared one libLLVM.so as before.
function(_qopt_retarget_mlir_llvm)
  set(pending ${QOPT_MLIR_STATIC_LIBS} MLIROptLib)
  set(seen)
  while(pending)
    list(POP_FRONT pending lib)
    if(lib IN_LIST seen OR NOT TARGET ${lib})
      continue()
    endif()
    list(APPEND seen ${lib})
    get_target_property(deps ${lib} INTERFACE_LINK_LIBRARIES)
    if(NOT deps)
      continue()
    endif()
    list(TRANSFORM deps REPLACE "^LLVM$" QOptLLVMLibs)
    set_target_properties(${lib} PROPERTIES INTERFACE_LINK_LIBRARIES "${deps}")
    foreach(dep ${deps})
      if(dep MATCHES "^MLIR")
        list(APPEND pending ${dep})
      endif()
    endforeach()
  endwhile()
endfunction()
_qopt_retarget_mlir_llvm()

# qopt_use_mlir_libs(<target>)
#   add_mlir_library puts LLVM's Support component into a library's link
#   interface itself, as "LLVM" (libLLVM.so, Debian's LLVM_LINK_LLVM_DYLIB):
#   for a library that links QOptMLIRLibs, that entry becomes QOptLLVMLibs,
#   which picks per linked target like the rest.
function(qopt_use_mlir_libs target)
  foreach(prop LINK_LIBRARIES INTERFACE_LINK_LIBRARIES)
    get_target_property(libs ${target} ${prop})
    if(libs)
      list(TRANSFORM libs REPLACE "^LLVM$" QOptLLVMLibs)
      list(REMOVE_DUPLICATES libs)
      set_target_properties(${target} PROPERTIES ${prop} "${libs}")
    endif()
  endforeach()
endfunction()

# qopt_third_party_library(<var> <name>)
#   <var> = a link item for the library <name> (pcre2-8, utf8proc, ...): its
#   static archive for a static target where the system has one, else the
#   shared library. Both are found by absolute path, so the installed package
#   needs no find_dependency for them (it names the shared one).
function(qopt_third_party_library var name)
  find_library(QOPT_${name}_SHARED ${name} REQUIRED)
  find_library(QOPT_${name}_STATIC lib${name}.a)
  if(QOPT_${name}_STATIC)
    set(${var} "$<BUILD_INTERFACE:$<IF:${_qopt_static},${QOPT_${name}_STATIC},${QOPT_${name}_SHARED}>>"
      "$<INSTALL_INTERFACE:${QOPT_${name}_SHARED}>" PARENT_SCOPE)
  else()
    set(${var} "${QOPT_${name}_SHARED}" PARENT_SCOPE)
  endif()
endfunction()

# qopt_link_static_mlir(<target>...)
#   Executables linked with the static MLIR/LLVM libraries when
#   QOPT_LINK_STATIC_MLIR is ON (and with libMLIR.so/libLLVM.so otherwise).
#   --as-needed drops what the static archives' link interfaces list but the
#   linked code does not use (libz3, the zstd/zlib of LLVM's compression).
function(qopt_link_static_mlir)
  if(NOT QOPT_LINK_STATIC_MLIR)
    return()
  endif()
  foreach(target ${ARGN})
    set_target_properties(${target} PROPERTIES QOPT_STATIC_MLIR ON)
    target_link_options(${target} PRIVATE LINKER:--as-needed)
  endforeach()
endfunction()
