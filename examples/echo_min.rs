//! The smallest tokio echo server for `len` framing (4-byte big-endian length, then the
//! payload): one task per client, one read buffer, one write per reply, nothing printed
//! per message. It is the benchmark baseline for `sockit tcp serve --echo --framing len`:
//! the fastest a task-per-connection tokio server of this protocol can answer.
//!
//! ```sh
//! cargo run --release --example echo_min     # prints `listening on tcp://127.0.0.1:PORT`
//! ```

use std::io;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// The largest message echoed, as sockit's default `--max-frame`.
const MAX_FRAME: usize = 8 << 20;

#[tokio::main]
async fn main() -> io::Result<()> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    println!("listening on tcp://{}", listener.local_addr()?);
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                tokio::spawn(echo(stream));
            }
            Err(e) => {
                // Out of file descriptors, most likely: wait instead of spinning.
                eprintln!("echo_min: accept: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// Echoes frames until the client closes. The buffered reader makes a small frame one
/// `read` (prefix and payload together), as a codec's buffer does.
async fn echo(mut stream: TcpStream) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let (rd, mut wr) = stream.split();
    let mut rd = BufReader::new(rd);
    let mut frame = Vec::new();
    loop {
        let mut prefix = [0; 4];
        if let Err(e) = rd.read_exact(&mut prefix).await {
            return match e.kind() {
                io::ErrorKind::UnexpectedEof => Ok(()),
                _ => Err(e),
            };
        }
        let len = u32::from_be_bytes(prefix) as usize;
        if len > MAX_FRAME {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "frame too large",
            ));
        }
        frame.clear();
        frame.extend_from_slice(&prefix);
        frame.resize(4 + len, 0);
        rd.read_exact(&mut frame[4..]).await?;
        wr.write_all(&frame).await?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A client connected to an `echo` task.
    async fn connected() -> (TcpStream, tokio::task::JoinHandle<io::Result<()>>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (server, _) = listener.accept().await.unwrap();
        (client, tokio::spawn(echo(server)))
    }

    #[tokio::test]
    async fn echoes_frames_however_they_are_split() {
        let (mut client, task) = connected().await;
        // Two frames, the first split inside its prefix and the second empty.
        client.write_all(b"\0\0").await.unwrap();
        client.write_all(b"\0\x03abc\0\0\0\0").await.unwrap();
        let mut back = [0; 11];
        client.read_exact(&mut back).await.unwrap();
        assert_eq!(&back, b"\0\0\0\x03abc\0\0\0\0");
        drop(client);
        task.await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn a_length_over_the_limit_ends_the_connection() {
        let (mut client, task) = connected().await;
        let len = (MAX_FRAME as u32 + 1).to_be_bytes();
        client.write_all(&len).await.unwrap();
        let err = task.await.unwrap().unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert_eq!(client.read(&mut [0; 1]).await.unwrap(), 0);
    }
}
