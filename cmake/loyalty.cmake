# Small helpers so that every module is one target with explicit dependencies
# (after absl_cc_library and Redpanda's v_cc_library).
#
#   loyalty_cc_library(NAME x SRCS a.cc HDRS a.h DEPS y z)
#   loyalty_cc_test(NAME x_test SRCS x_test.cc DEPS x [LABELS slow])
#   loyalty_cc_binary(NAME tool SRCS main.cc DEPS x)

function(loyalty_cc_library)
  cmake_parse_arguments(L "" "NAME" "SRCS;HDRS;DEPS" ${ARGN})
  add_library(${L_NAME} STATIC ${L_SRCS} ${L_HDRS})
  target_include_directories(${L_NAME} PUBLIC ${PROJECT_SOURCE_DIR})
  target_link_libraries(${L_NAME} PUBLIC ${L_DEPS})
endfunction()

function(loyalty_cc_test)
  cmake_parse_arguments(L "" "NAME" "SRCS;DEPS;LABELS" ${ARGN})
  add_executable(${L_NAME} ${L_SRCS})
  target_include_directories(${L_NAME} PRIVATE ${PROJECT_SOURCE_DIR})
  target_link_libraries(${L_NAME} PRIVATE ${L_DEPS} GTest::gtest GTest::gtest_main)
  add_test(NAME ${L_NAME} COMMAND ${L_NAME})
  set(labels unit)
  if(L_LABELS)
    set(labels ${L_LABELS})
  endif()
  set_tests_properties(${L_NAME} PROPERTIES LABELS "${labels}"
    ENVIRONMENT "LOYALTY_SOURCE_DIR=${PROJECT_SOURCE_DIR};LOYALTY_BINARY_DIR=${PROJECT_BINARY_DIR}")
endfunction()

function(loyalty_cc_binary)
  cmake_parse_arguments(L "" "NAME" "SRCS;DEPS" ${ARGN})
  add_executable(${L_NAME} ${L_SRCS})
  target_include_directories(${L_NAME} PRIVATE ${PROJECT_SOURCE_DIR})
  target_link_libraries(${L_NAME} PRIVATE ${L_DEPS})
endfunction()
