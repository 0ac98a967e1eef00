//! SIGTERM under load: what is in flight is answered, what comes after finds
//! nothing listening, and the process exits cleanly.

use std::time::Duration;

use devora_e2e::{Cluster, ClusterOptions, Endpoint};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::load::{Load, verify};
use super::*;

/// The load's clients (each with at most one kept-alive connection at a time).
const TASKS: usize = 6;

/// A file upload sent by hand: the head and the first half of the body now,
/// the rest when [`SlowUpload::finish`] is called.
struct SlowUpload {
    stream: TcpStream,
    rest: Vec<u8>,
}

impl SlowUpload {
    async fn begin(node: &Endpoint, token: &str, project: &str, path: &str) -> Self {
        let body = vec![b'x'; 4096];
        let mut stream = TcpStream::connect(("127.0.0.1", node.port)).await.unwrap();
        let head = format!(
            "PUT /api/v2/projects/{project}/files/{path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n\
             Content-Type: application/octet-stream\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        stream.write_all(&body[..2048]).await.unwrap();
        stream.flush().await.unwrap();
        Self { stream, rest: body[2048..].to_vec() }
    }

    /// Sends the rest of the body; the whole answer's status line.
    async fn finish(mut self) -> String {
        self.stream.write_all(&self.rest).await.unwrap();
        let mut answer = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(20), self.stream.read_to_end(&mut answer)).await;
        assert!(read.is_ok(), "the in-flight upload hung");
        let text = String::from_utf8_lossy(&answer).into_owned();
        text.lines().next().unwrap_or_default().to_owned()
    }
}

/// A new connection after the stop: refused, or (before the listener closed)
/// a complete answer; never accepted and then left hanging or cut.
async fn new_connection(port: u16) -> Result<String, std::io::ErrorKind> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await.map_err(|e| e.kind())?;
    stream.write_all(b"GET /health/live HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").await.unwrap();
    let mut answer = Vec::new();
    match tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut answer)).await {
        Ok(Ok(_)) => Ok(String::from_utf8_lossy(&answer).lines().next().unwrap_or_default().to_owned()),
        Ok(Err(e)) => Err(e.kind()),
        Err(_) => Err(std::io::ErrorKind::TimedOut),
    }
}

// Six clients reading and writing and three uploads half sent when the node gets
// SIGTERM: the uploads, finished after the signal, are answered 201 and stored;
// the load's requests are answered (no 5xx) or refused at connect, none hangs or
// is cut mid-answer; new connections are soon refused; the process exits with
// success; every write it acknowledged is read back through the next node.
scenario!(
    sigterm_under_load_answers_what_is_in_flight_and_refuses_the_rest,
    [postgres_redis],
    threads = 4,
    |variant: Variant| {
        let _ = variant;
        let mut cluster = Cluster::start(ClusterOptions::new(1, &[("SHUTDOWN_TIMEOUT_SECS", "10")])).await;
        let node = cluster.node(0);
        let user = node.new_user().await;
        let token = &user.access_token;
        let project = node.create_project_id(token, "Uploads").await;
        let load = Load::start(std::slice::from_ref(&node), TASKS).await;
        tokio::time::sleep(Duration::from_millis(1000)).await;
        let mut uploads = Vec::new();
        for i in 0..3 {
            uploads.push(SlowUpload::begin(&node, token, &project, &format!("in-flight-{i}.txt")).await);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;

        cluster.nodes[0].signal("TERM");
        tokio::time::sleep(Duration::from_millis(300)).await;
        let mut answers = Vec::new();
        for upload in uploads {
            answers.push(upload.finish().await);
        }
        // New connections: refused once the listener is closed (within 10 s).
        let mut after = Vec::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let outcome = new_connection(node.port).await;
            let refused = outcome == Err(std::io::ErrorKind::ConnectionRefused);
            after.push(outcome);
            if refused || tokio::time::Instant::now() > deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        let (tally, written) = load.finish().await;
        let status = cluster.nodes[0].wait(Duration::from_secs(30)).await;
        // What was acknowledged before and during the stop is there for the next node.
        let next = cluster.start_node(Vec::new()).await;
        let next = cluster.node(next);
        let (verified, failures) = verify(std::slice::from_ref(&next), &written).await;
        let mut uploaded = 0;
        for i in 0..3 {
            let res = next.get_as(token, &format!("/api/v2/projects/{project}/files/in-flight-{i}.txt")).await;
            if res.status() == 200 && res.bytes().await.unwrap().len() == 4096 {
                uploaded += 1;
            }
        }
        let extra = format!(
            " in_flight_uploads={answers:?} uploads_stored={uploaded} new_connections_after={after:?} exit={status}"
        );
        report("sigterm", &tally, verified, &extra);
        assert!(failures.is_empty(), "acknowledged writes lost: {failures:#?}");
        assert_eq!(verified, tally.writes_acked);
        assert_eq!(uploaded, 3, "the uploads answered 201 were stored whole");
        assert!(answers.iter().all(|a| a.starts_with("HTTP/1.1 201")), "in-flight uploads answered: {answers:?}");
        assert_eq!(
            after.last(),
            Some(&Err(std::io::ErrorKind::ConnectionRefused)),
            "new connections refused: {after:?}"
        );
        let clean = |o: &Result<String, std::io::ErrorKind>| match o {
            Ok(status_line) => status_line.starts_with("HTTP/1.1 200"),
            Err(kind) => *kind == std::io::ErrorKind::ConnectionRefused,
        };
        assert!(after.iter().all(clean), "answered whole or refused, never cut or left hanging: {after:?}");
        assert_eq!(
            tally.five_xx() + tally.cut + tally.hung + tally.client_errors,
            0,
            "only answers and refusals: {tally:?}"
        );
        // The node closes kept-alive connections that are idle when it stops; a
        // request sent on one at that instant gets no answer (HTTP/1.1's race,
        // RFC 9112 9.3.1, for the client to retry): at most once per connection.
        assert!(tally.closed <= TASKS, "{tally:?}");
        assert!(tally.refused > 0 && tally.ok > 0, "{tally:?}");
        assert!(status.success(), "a clean exit: {status}");
    }
);
