# Warnings, sanitizers and the library/test helpers every target uses.

add_library(faultline_warnings INTERFACE)
target_compile_options(faultline_warnings INTERFACE
  -Wall -Wextra -Wshadow -Wconversion -Wnon-virtual-dtor -Wno-sign-conversion)
if(FAULTLINE_WERROR)
  target_compile_options(faultline_warnings INTERFACE -Werror)
endif()

if(FAULTLINE_SANITIZER STREQUAL "address+undefined")
  add_compile_options(-fsanitize=address,undefined -fno-sanitize-recover=undefined
                      -fno-omit-frame-pointer)
  add_link_options(-fsanitize=address,undefined)
elseif(FAULTLINE_SANITIZER STREQUAL "thread")
  add_compile_options(-fsanitize=thread -fno-omit-frame-pointer)
  add_link_options(-fsanitize=thread)
elseif(NOT FAULTLINE_SANITIZER STREQUAL "")
  message(FATAL_ERROR "FAULTLINE_SANITIZER must be address+undefined, thread or empty")
endif()

# faultline_library(NAME name SOURCES ... [PUBLIC_DEPS ...] [PRIVATE_DEPS ...])
# Defines faultline_<name> with alias faultline::<name>; include paths start
# at the repository root.
function(faultline_library)
  cmake_parse_arguments(ARG "" "NAME" "SOURCES;PUBLIC_DEPS;PRIVATE_DEPS" ${ARGN})
  add_library(faultline_${ARG_NAME} STATIC ${ARG_SOURCES})
  add_library(faultline::${ARG_NAME} ALIAS faultline_${ARG_NAME})
  target_include_directories(faultline_${ARG_NAME} PUBLIC ${PROJECT_SOURCE_DIR})
  target_link_libraries(faultline_${ARG_NAME}
    PUBLIC ${ARG_PUBLIC_DEPS}
    PRIVATE faultline_warnings ${ARG_PRIVATE_DEPS})
endfunction()

# faultline_test(NAME name SOURCES ... DEPS ... [LABELS ...])
# One executable per test file, discovered into CTest with its labels
# (default "unit").
function(faultline_test)
  cmake_parse_arguments(ARG "" "NAME" "SOURCES;DEPS;LABELS" ${ARGN})
  if(NOT ARG_LABELS)
    set(ARG_LABELS unit)
  endif()
  add_executable(${ARG_NAME} ${ARG_SOURCES})
  target_link_libraries(${ARG_NAME} PRIVATE faultline_warnings ${ARG_DEPS}
                        faultline::testutil GTest::gtest GTest::gmock GTest::gtest_main)
  gtest_discover_tests(${ARG_NAME}
    PROPERTIES LABELS "${ARG_LABELS}"
    DISCOVERY_TIMEOUT 60)
endfunction()
