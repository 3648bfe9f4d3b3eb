// SPDX-License-Identifier: MIT
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <string.h>

#include <glue/error.h>
#include "core/err.h"

Test(error, messages_and_errno)
{
	cr_assert_eq(glue_err(-EINVAL, "bad %s %d", "thing", 7), -EINVAL);
	cr_assert_str_eq(glue_error_last(), "bad thing 7");
	cr_assert_eq(glue_err_sys(-ENOENT, "cannot open '%s'", "x"), -ENOENT);
	cr_assert_str_eq(glue_error_last(), "cannot open 'x': No such file or directory");
	cr_assert_eq(glue_err_wrap(-ENOENT, "loading kernel"), -ENOENT);
	cr_assert_str_eq(glue_error_last(),
			 "loading kernel: cannot open 'x': No such file or directory");
	glue_error_clear();
	cr_assert_str_eq(glue_error_last(), "");
	cr_assert_eq(glue_err_wrap(-EIO, "alone"), -EIO);
	cr_assert_str_eq(glue_error_last(), "alone", "nothing to wrap: no trailing ': '");
}

Test(error, long_messages_are_truncated_not_overrun)
{
	char big[2000];

	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	glue_err(-EINVAL, "%s", big);
	cr_assert_lt(strlen(glue_error_last()), sizeof(big));
	glue_err_wrap(-EINVAL, "%s", big);
	glue_err_sys(-EINVAL, "%s", big);
	cr_assert_gt(strlen(glue_error_last()), 100);
}

static void *other_thread(void *arg)
{
	glue_err(-EPERM, "from the other thread");
	return (void *)(strcmp(glue_error_last(), "from the other thread") == 0 ? arg : NULL);
}

Test(error, each_thread_has_its_own_message)
{
	pthread_t t;
	void *ok;

	glue_err(-EINVAL, "mine");
	pthread_create(&t, NULL, other_thread, (void *)1);
	pthread_join(t, &ok);
	cr_assert_not_null(ok);
	cr_assert_str_eq(glue_error_last(), "mine");
	cr_assert_str_neq(glue_version(), "");
}
