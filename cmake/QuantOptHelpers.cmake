# Helpers for the libraries of the installed QuantOpt CMake package.
#
# Every library target keeps its in-tree name (QOptLoaders, ...) and is
# exported as QuantOpt::<name> (QuantOpt::Loaders, ...) in QuantOptTargets,
# with its include directories for both the build tree and the install
# prefix. Adding a source file to a library is one line in (or, where the
# directory globs, no change to) its CMakeLists.txt.

include(GNUInstallDirs)

# qopt_export_library(<target> <export-name>)
#   Usage requirements and install rules of a library target built by any
#   helper (add_library, add_mlir_library, ...): PIC, the project's include
#   directories (source, build, and <prefix>/include once installed), MLIR
#   and LLVM headers, and installation into the QuantOptTargets export set.
function(qopt_export_library target export_name)
  set_target_properties(${target} PROPERTIES
    EXPORT_NAME ${export_name}
    POSITION_INDEPENDENT_CODE ON)
  if(TARGET obj.${target})
    set_target_properties(obj.${target} PROPERTIES POSITION_INDEPENDENT_CODE ON)
  endif()
  target_include_directories(${target} PUBLIC
    $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/include>
    $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}>
    $<BUILD_INTERFACE:${PROJECT_BINARY_DIR}>
    $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
  target_link_libraries(${target} PUBLIC QOptLLVMHeaders)
  install(TARGETS ${target} EXPORT QuantOptTargets
    ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT QuantOpt
    LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT QuantOpt
    RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT QuantOpt)
endfunction()

# qopt_add_library(<target> <export-name> <sources>...)
#   A static, position-independent library without MLIR (the dialect and
#   its passes use add_mlir_dialect_library / add_mlir_library instead).
function(qopt_add_library target export_name)
  add_library(${target} STATIC ${ARGN})
  qopt_export_library(${target} ${export_name})
endfunction()

# qopt_install_headers(<destination> <directory> <pattern>...)
#   Installs the files of <directory> matching the patterns (not recursing
#   into CMakeFiles) under <prefix>/include/<destination>.
function(qopt_install_headers destination directory)
  set(patterns)
  foreach(p ${ARGN})
    list(APPEND patterns PATTERN "${p}")
  endforeach()
  install(DIRECTORY ${directory}/
    DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/${destination}
    COMPONENT QuantOpt
    FILES_MATCHING ${patterns}
    PATTERN CMakeFiles EXCLUDE)
endfunction()
