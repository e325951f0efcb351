
/*
 * Copyright (C) The ngx_http_victorops_module authors
 *
 * The Slack command: what its text asks (help, list, a page with an
 * optional summary), and the escalation job body a page becomes, from
 * the command's form, byte for byte.
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "core.h"
#include "ngx_http_victorops_slack_api.h"


typedef struct {
    const char                   *name;
    const char                   *text;
    ngx_uint_t                    what;
    const char                   *slug;
    const char                   *summary;
} core_slack_text_case_t;


static core_slack_text_case_t  core_slack_text_cases[] = {

    { "nothing: help", "", NGX_HTTP_VICTOROPS_SLACK_HELP, "", "" },
    { "blanks: help", " \t ", NGX_HTTP_VICTOROPS_SLACK_HELP, "", "" },
    { "help in any case", "HeLp", NGX_HTTP_VICTOROPS_SLACK_HELP, "HeLp",
      "" },
    { "list", "list", NGX_HTTP_VICTOROPS_SLACK_LIST, "list", "" },
    { "list with more: a page of a team called list", "list all",
      NGX_HTTP_VICTOROPS_SLACK_PAGE, "list", "all" },
    { "a team alone", "team-payments", NGX_HTTP_VICTOROPS_SLACK_PAGE,
      "team-payments", "" },
    { "a team and a summary, blanks around", "\t team-db  disk full \t",
      NGX_HTTP_VICTOROPS_SLACK_PAGE, "team-db", "disk full" },
    { NULL, NULL, 0, NULL, NULL }
};


typedef struct {
    const char                   *name;
    const char                   *form;
    const char                   *slug;
    const char                   *summary;
    const char                   *body;
} core_slack_page_case_t;


static core_slack_page_case_t  core_slack_page_cases[] = {

    { "a summary given",
      "command=%2Fpage&text=team-db+disk+full&user_name=alice&user_id=U1"
      "&channel_id=C9&response_url=https%3A%2F%2Fhooks.slack.com%2Fr%2F1",
      "team-db", "disk full",
      "{\"id\":\"slack:U1\",\"title\":\"\",\"url\":\"\","
      "\"summary\":\"disk full\","
      "\"details\":\"Paged from Slack by alice (U1) in channel C9\","
      "\"targets\":[],\"teams\":[\"team-db\"],"
      "\"reply_url\":\"https://hooks.slack.com/r/1\","
      "\"reply_until\":1700001800}" },

    { "no summary: who paged",
      "user_name=bob&user_id=U2&channel_id=C1"
      "&response_url=https%3A%2F%2Fhooks.slack.com%2Fr%2F2",
      "pol-a", "",
      "{\"id\":\"slack:U2\",\"title\":\"\",\"url\":\"\","
      "\"summary\":\"Paged from Slack by bob\","
      "\"details\":\"Paged from Slack by bob (U2) in channel C1\","
      "\"targets\":[],\"teams\":[\"pol-a\"],"
      "\"reply_url\":\"https://hooks.slack.com/r/2\","
      "\"reply_until\":1700001800}" },

    { "nothing known of who, nor where to answer",
      "text=team-x", "team-x", "",
      "{\"id\":\"slack:\",\"title\":\"\",\"url\":\"\","
      "\"summary\":\"Paged from Slack by \","
      "\"details\":\"Paged from Slack by  () in channel \","
      "\"targets\":[],\"teams\":[\"team-x\"],"
      "\"reply_until\":1700001800}" },

    { NULL, NULL, NULL, NULL, NULL }
};


static void core_slack_page(void);


void
core_slack(void)
{
    ngx_str_t                slug, summary;
    ngx_uint_t               what;
    core_slack_text_case_t  *c;

    for (c = core_slack_text_cases; c->name; c++) {
        core.name = c->name;

        what = ngx_http_victorops_slack_text(core_str(c->text), &slug,
                                             &summary);

        core_check(what == c->what);
        core_check(core_str_eq(&slug, c->slug));
        core_check(core_str_eq(&summary, c->summary));
    }

    core_slack_page();
}


static void
core_slack_page(void)
{
    ngx_str_t                        *form, body;
    core_slack_page_case_t           *c;
    ngx_http_victorops_json_t        *root;
    ngx_http_victorops_escalation_t   esc, back;

    for (c = core_slack_page_cases; c->name; c++) {
        core.name = c->name;

        form = core_str(c->form);

        core_check(ngx_http_victorops_form_parse(core.pool, form->data,
                                                 form->len, &root)
                   == NGX_OK);

        core_check(ngx_http_victorops_slack_escalation(core.pool, root,
                                                       core_str(c->slug),
                                                       core_str(c->summary),
                                                       1700000000, &esc)
                   == NGX_OK);

        core_check(ngx_http_victorops_escalation_body(core.pool, &esc, &body)
                   == NGX_OK
                   && core_str_eq(&body, c->body));

        /* what the VictorOps job reads back */

        core_check(ngx_http_victorops_escalation_parse(core.pool, &body,
                                                       &back)
                   == NGX_OK
                   && back.teams.nelts == 1
                   && core_str_eq(back.teams.elts, c->slug)
                   && back.reply_until == 1700001800);
    }
}
