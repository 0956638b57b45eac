use std::net::TcpListener;

use frontdesk_e2e::Clinic;
use serde_json::json;

#[tokio::test]
async fn the_page_can_neither_eval_nor_reach_the_network() {
    let Some(clinic) = Clinic::for_test("security") else {
        return;
    };
    let desk = clinic.open_desk().await;

    let eval = desk
        .client()
        .execute(
            "try { return 'eval ran: ' + eval('6 * 7'); } catch (e) { return 'blocked: ' + e.name; }",
            Vec::new(),
        )
        .await
        .expect("run a script in the page");
    assert_eq!(
        eval,
        json!("blocked: EvalError"),
        "the CSP must forbid eval"
    );

    // A server that would answer if the request got out.
    let server = TcpListener::bind("127.0.0.1:0").unwrap();
    server.set_nonblocking(true).unwrap();
    let url = format!("http://{}/", server.local_addr().unwrap());
    let fetch = desk
        .client()
        .execute_async(
            "const [url, done] = arguments;
             // the eval above reports its own (script-src) violation asynchronously,
             // possibly only now: wait for the one about this request
             document.addEventListener('securitypolicyviolation', (e) => {
               if (e.violatedDirective.startsWith('connect-src')) done('violation: ' + e.violatedDirective);
             });
             fetch(url).then(() => done('fetched'),
               () => setTimeout(() => done('failed without a CSP violation'), 1000));
             setTimeout(() => done('no answer: the request got out'), 3000);",
            vec![json!(url)],
        )
        .await
        .expect("run a script in the page");
    assert_eq!(
        fetch,
        json!("violation: connect-src"),
        "the CSP must stop requests to anything but the IPC"
    );
    assert!(
        server.accept().is_err(),
        "the request reached the server despite the CSP"
    );
    desk.close().await;
}
