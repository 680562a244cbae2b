// lunfs_test_iscsi: a second iSCSI initiator for integration tests, to do to a lab target what
// another host would.
//
//   lunfs_test_iscsi lun-reset URL   logs in and sends LOGICAL UNIT RESET for the URL's LUN
//
// Exit 0 when the target answered the function as complete, 1 otherwise, 2 for bad usage.
#include <iscsi/iscsi.h>

#include <cstdio>
#include <cstring>
#include <string>

namespace {

int LunReset(const char* url_text) {
    iscsi_context* ctx = iscsi_create_context("iqn.2026-11.io.lunfs.test:another-initiator");
    if (!ctx) return 1;
    iscsi_url* url = iscsi_parse_full_url(ctx, url_text);
    if (!url) {
        std::fprintf(stderr, "lunfs_test_iscsi: bad URL: %s\n", iscsi_get_error(ctx));
        iscsi_destroy_context(ctx);
        return 2;
    }
    iscsi_set_targetname(ctx, url->target);
    iscsi_set_session_type(ctx, ISCSI_SESSION_NORMAL);
    iscsi_set_header_digest(ctx, ISCSI_HEADER_DIGEST_NONE);
    int rc = 1;
    if (iscsi_full_connect_sync(ctx, url->portal, url->lun) != 0) {
        std::fprintf(stderr, "lunfs_test_iscsi: login failed: %s\n", iscsi_get_error(ctx));
    } else if (iscsi_task_mgmt_lun_reset_sync(ctx, static_cast<uint32_t>(url->lun)) != 0) {
        std::fprintf(stderr, "lunfs_test_iscsi: LUN reset failed: %s\n", iscsi_get_error(ctx));
    } else {
        rc = 0;
        iscsi_logout_sync(ctx);
    }
    iscsi_destroy_url(url);
    iscsi_destroy_context(ctx);
    return rc;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc == 3 && std::strcmp(argv[1], "lun-reset") == 0) return LunReset(argv[2]);
    std::fprintf(stderr, "usage: lunfs_test_iscsi lun-reset URL\n");
    return 2;
}
