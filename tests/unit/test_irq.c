// SPDX-License-Identifier: MIT
#include <criterion/criterion.h>
#include <errno.h>

#include <glue/error.h>
#include <glue/irq.h>

struct line {
	int levels[8];
	int n;
	int fail;
};

static int record(void *ctx, int level)
{
	struct line *l = ctx;

	if (l->fail)
		return -EIO;
	if (l->n < 8)
		l->levels[l->n++] = level;
	return 0;
}

Test(irq, fn_line_set_and_pulse)
{
	struct line l = {0};
	struct glue_irq *irq;

	cr_assert_eq(glue_irq_new_fn(&irq, record, &l), 0);
	cr_assert_eq(glue_irq_gsi(irq), UINT32_MAX);
	cr_assert_eq(glue_irq_set(irq, 1), 0);
	cr_assert_eq(glue_irq_set(irq, 0), 0);
	cr_assert_eq(glue_irq_set(irq, 7), 0); /* any non-zero level is high */
	cr_assert_eq(glue_irq_pulse(irq), 0);
	cr_assert_eq(l.n, 5);
	cr_assert_eq(l.levels[0], 1);
	cr_assert_eq(l.levels[1], 0);
	cr_assert_eq(l.levels[2], 1);
	cr_assert_eq(l.levels[3], 1);
	cr_assert_eq(l.levels[4], 0);
	glue_irq_free(irq);
}

Test(irq, errors)
{
	struct line l = {.fail = 1};
	struct glue_irq *irq;

	cr_assert_eq(glue_irq_new_fn(&irq, NULL, NULL), -EINVAL);
	cr_assert_eq(glue_irq_new_kvm(&irq, NULL, 4), -EINVAL);
	cr_assert_neq(glue_error_last()[0], '\0');
	cr_assert_eq(glue_irq_new_fn(&irq, record, &l), 0);
	/* The controller's failure reaches the device, and a failed raise is
	 * not followed by a lowering. */
	cr_assert_eq(glue_irq_pulse(irq), -EIO);
	cr_assert_eq(glue_irq_set(NULL, 1), -EINVAL);
	glue_irq_free(irq);
	glue_irq_free(NULL);
	cr_assert_eq(glue_irq_gsi(NULL), UINT32_MAX);
}
