# version.cmake - run at every build (cmake -P) by lib/CMakeLists.txt: writes OUT, the header that
# lib/version.c includes, with VERSION (the project's) and `git describe --always --dirty` of SRC
# ("unknown" outside a git checkout or without git). configure_file leaves OUT untouched when the
# text is the same, so an unchanged checkout rebuilds nothing.
set(STRATA_GIT "unknown")
find_package(Git QUIET)
if(GIT_FOUND)
  # Only SRC's own checkout: a source tarball unpacked inside some other repository is not it.
  execute_process(COMMAND ${GIT_EXECUTABLE} -C ${SRC} rev-parse --show-toplevel
                  OUTPUT_VARIABLE top RESULT_VARIABLE rc ERROR_QUIET OUTPUT_STRIP_TRAILING_WHITESPACE)
  file(REAL_PATH "${SRC}" src_real)
  if(rc EQUAL 0)
    file(REAL_PATH "${top}" top_real)
  endif()
  if(rc EQUAL 0 AND top_real STREQUAL src_real)
    execute_process(COMMAND ${GIT_EXECUTABLE} -C ${SRC} describe --always --dirty
                    OUTPUT_VARIABLE out RESULT_VARIABLE rc ERROR_QUIET
                    OUTPUT_STRIP_TRAILING_WHITESPACE)
    if(rc EQUAL 0 AND NOT out STREQUAL "")
      set(STRATA_GIT "${out}")
    endif()
  endif()
endif()
set(STRATA_VERSION "${VERSION}")
configure_file(${SRC}/lib/version_gen.h.in ${OUT} @ONLY)
