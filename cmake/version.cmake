# version.cmake - run at every build (cmake -P) by lib/CMakeLists.txt: writes OUT, the header that
# lib/version.c includes, with VERSION (the project's) and `git describe --always --dirty` of SRC
# ("unknown" outside a git checkout or without git). configure_file leaves OUT untouched when the
# text is the same, so an unchanged checkout rebuilds nothing.
set(STRATA_GIT "unknown")
find_package(Git QUIET)
if(GIT_FOUND)
  execute_process(COMMAND ${GIT_EXECUTABLE} -C ${SRC} describe --always --dirty
                  OUTPUT_VARIABLE out RESULT_VARIABLE rc ERROR_QUIET OUTPUT_STRIP_TRAILING_WHITESPACE)
  if(rc EQUAL 0 AND NOT out STREQUAL "")
    set(STRATA_GIT "${out}")
  endif()
endif()
set(STRATA_VERSION "${VERSION}")
configure_file(${SRC}/lib/version_gen.h.in ${OUT} @ONLY)
