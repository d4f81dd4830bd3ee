//! The tour's titles and explanations, each in English and in Chinese with the notes'
//! own terms (粘包, 缓冲区, 数据报, 广播, 广播风暴, 文件描述符 …).

use super::Topic;

/// The language the tour explains in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Lang {
    En,
    Zh,
}

impl Lang {
    /// Chinese when the locale (`LC_ALL`, else `LANG`) starts with `zh`, else English.
    pub fn from_env() -> Lang {
        Lang::from_locale(
            std::env::var("LC_ALL")
                .ok()
                .filter(|v| !v.is_empty())
                .or_else(|| std::env::var("LANG").ok())
                .as_deref(),
        )
    }

    fn from_locale(locale: Option<&str>) -> Lang {
        match locale {
            Some(l) if l.to_ascii_lowercase().starts_with("zh") => Lang::Zh,
            _ => Lang::En,
        }
    }
}

/// A lesson's title and explanation in `lang`.
pub fn lesson(topic: Topic, lang: Lang) -> (&'static str, &'static str) {
    let (en, zh) = both(topic);
    match lang {
        Lang::En => en,
        Lang::Zh => zh,
    }
}

type Text = (&'static str, &'static str);

fn both(topic: Topic) -> (Text, Text) {
    match topic {
        Topic::PeerExit => (
            (
                "the peer exits, recv returns empty",
                "When one side closes, the other side's recv stops blocking and returns 0 bytes \
                 (Python: b''). That empty read is how a program learns the peer is gone; a \
                 server loop must end on it instead of spinning.",
            ),
            (
                "一端退出，另一端 recv 返回空",
                "当一端退出（关闭套接字）时，阻塞在 recv 的另一端会立即结束阻塞并返回空字符串（0 字节，Python 中为 b''）。\
                 程序靠这个空返回得知对方已断开，服务端循环应在此时 break，而不是一直空转。",
            ),
        ),
        Topic::BrokenPipe => (
            (
                "sending to a vanished peer: broken pipe",
                "The first send into a closed connection still lands in the local send buffer; \
                 the peer's kernel answers it with a reset (RST). Every send after that fails \
                 with EPIPE (Broken Pipe) or ECONNRESET. Python raises BrokenPipeError; sockit \
                 reports it as one line.",
            ),
            (
                "对端已不存在时 send：Broken Pipe",
                "向已关闭的连接 send，第一次往往仍会成功（数据只是写进了本地发送缓冲区），对端内核随即回复复位（RST）。\
                 此后的 send 都会失败：EPIPE（Broken Pipe，管道破裂）或 ECONNRESET。Python 中表现为 BrokenPipeError。",
            ),
        ),
        Topic::ManyClients => (
            (
                "one listening socket, many clients",
                "accept() on one listening socket returns a new connected socket per client, \
                 each with its own file descriptor and peer address, while the listening \
                 socket keeps its port and can be used again and again.",
            ),
            (
                "一个监听套接字同时连接多个客户端",
                "同一个监听套接字每次 accept() 都返回一个新的连接套接字，各有自己的文件描述符和客户端地址；\
                 监听套接字本身的端口不变，可以同时连接多个客户端，也可以重复使用。",
            ),
        ),
        Topic::Buffers => (
            (
                "send and receive buffers",
                "send and recv only copy to and from kernel buffers. While the receiver does \
                 not read, its receive buffer fills, then the sender's send buffer; then send \
                 blocks (a non-blocking socket says EAGAIN/would block). Reading drains the \
                 buffers and the sender can go on: buffers smooth out different speeds.",
            ),
            (
                "网络收发缓冲区",
                "send 和 recv 实际上是在和缓冲区交互。接收端不 recv 时，先是接收缓冲区被填满，接着发送缓冲区也满了，\
                 此时 send 就会阻塞（非阻塞套接字返回 EAGAIN）。接收端读取后缓冲区腾出空间，发送端又能继续发送：\
                 缓冲区的作用正是协调收发速度。",
            ),
        ),
        Topic::Throughput => (
            (
                "the window decides the speed",
                "TCP keeps at most one window of unacknowledged bytes in flight, so a stream \
                 moves at most window / RTT bytes a second. -w sets SO_SNDBUF and SO_RCVBUF \
                 on both sides (Linux doubles what is asked, for its bookkeeping, and caps it \
                 at net.core.wmem_max/rmem_max). On loopback the RTT is tens of microseconds, \
                 so even 8 KiB moves gigabits (how many depends on how the two threads are \
                 scheduled); the window starts to rule once the RTT grows: \
                 across a 20 ms path the same 8 KiB would allow about 3 Mbit/s, and filling \
                 1 Gbit/s there needs 2.5 MB in flight (the bandwidth-delay product). A \
                 larger buffer also lets more wait in the queue: the RTT grows with it.",
            ),
            (
                "窗口决定速度",
                "TCP 同时在途（已发送未确认）的数据至多一个窗口，所以一条连接每秒至多传输 窗口 / 往返时间 字节。\
                 -w 设置两端的 SO_SNDBUF 和 SO_RCVBUF（Linux 会把请求值加倍用于内部记账，并以 \
                 net.core.wmem_max/rmem_max 为上限）。回环接口的往返时间只有几十微秒，所以即使 8 KiB \
                 也能达到每秒数 Gbit（具体多少取决于两个线程的调度）；往返时间变长时窗口才起决定作用：若往返时间是 20 ms，同样的 8 KiB 只能达到约 3 Mbit/s，\
                 要跑满 1 Gbit/s 则需要 2.5 MB 在途（带宽时延积）。缓冲区越大，排队的数据也越多：往返时间随之变长。",
            ),
        ),
        Topic::Sticky => (
            (
                "sticky packets and two cures",
                "TCP is a byte stream with no message boundaries, so three quick sends can \
                 arrive as one recv (raw framing, sockit's default, as for nc and the notes' \
                 programs). Structuring each message with a 4-byte length prefix \
                 (struct.pack('!I'), --framing len) or ending it with a delimiter \
                 (--framing line) lets the receiver cut the stream back into the same three \
                 messages; both ends must agree on it.",
            ),
            (
                "TCP 粘包及其处理",
                "TCP 以字节流方式传输，消息之间没有边界，多次发送的消息会被一次性接收，这就是粘包（raw 分帧可见，\
                 这也是 sockit 的默认方式，与 nc 和笔记中的程序一致）。\
                 处理方法：将消息结构化（struct.pack('!I') 的 4 字节长度前缀，--framing len），或在消息结尾添加结束标志\
                 （分隔符，--framing line），接收端即可把字节流重新切成原来的三条消息；收发两端必须约定同一种方式。",
            ),
        ),
        Topic::Pacing => (
            (
                "pacing the sender",
                "The notes' third cure: send slowly enough that each message is read before \
                 the next arrives. It works here (sockit tcp connect --interval), but only as \
                 long as the receiver keeps up; framing is the reliable cure.",
            ),
            (
                "控制消息发送速度",
                "处理粘包的第三种方法：控制消息发送速度，让每条消息在下一条到达之前就被接收。\
                 这里用 sockit tcp connect --interval 演示；但它依赖接收端足够快，并不可靠，结构化消息或结束标志才是根本办法。",
            ),
        ),
        Topic::UdpBoundaries => (
            (
                "UDP keeps message boundaries",
                "A datagram socket sends and receives whole datagrams: three sendto calls are \
                 three recvfrom results, however quickly they were sent. UDP has no sticky \
                 packets, but it does not guarantee delivery either.",
            ),
            (
                "UDP 有消息边界",
                "数据报套接字以数据报为单位收发：三次 sendto 就是三次 recvfrom，发得再快也不会合并。\
                 UDP 有消息边界，不会形成粘包；但 UDP 不保证数据传输的完整性。",
            ),
        ),
        Topic::UdpTruncation => (
            (
                "a datagram larger than the buffer",
                "recvfrom(buffersize) takes one datagram; what does not fit in buffersize is \
                 lost, not kept for the next call. sockit asks the kernel for the real size \
                 (MSG_TRUNC), so the loss is reported instead of silent.",
            ),
            (
                "数据报大于接收缓冲区",
                "recvfrom(buffersize) 一次接收一个数据报，如果数据报大小大于 buffersize，多出的部分会丢失，\
                 不会留给下一次接收。sockit 用 MSG_TRUNC 向内核取得数据报的真实大小，把丢失明确报告出来。",
            ),
        ),
        Topic::UdpRefused => (
            (
                "sendto to nobody: connection refused",
                "UDP sends without a connection, so sendto to a port nobody listens on still \
                 succeeds. The receiving host answers with ICMP port unreachable; only a \
                 connected UDP socket hears it, as ECONNREFUSED on its next call.",
            ),
            (
                "向无人监听的端口 sendto",
                "UDP 无需连接，向无人监听的端口 sendto 照样成功。目标主机会回复 ICMP 端口不可达；\
                 只有已 connect 的 UDP 套接字能收到它，在下一次调用时得到 ECONNREFUSED（连接被拒绝）。",
            ),
        ),
        Topic::Argv => (
            (
                "command-line arguments",
                "The shell splits a command line into words (sys.argv; the command itself is \
                 argv[0], quotes keep words together). sockit udp send, like the notes' \
                 sender, joins the words after the address into one datagram.",
            ),
            (
                "命令行参数 sys.argv",
                "shell 把命令行按空格分成参数列表（sys.argv，命令本身是 argv[0]，引号引起来的内容算作一个整体，都是字符串）。\
                 sockit udp send 与笔记中的发送程序一样，把地址后面的参数用空格连接成一个数据报发送。",
            ),
        ),
        Topic::Info => (
            (
                "socket attributes and options",
                "A socket has a family (AF_INET), a type (SOCK_STREAM or SOCK_DGRAM), a bound \
                 address (getsockname), a peer (getpeername) and a file descriptor, the \
                 number the OS knows this I/O by. Options such as SO_REUSEADDR are set with \
                 setsockopt, best right after the socket is created, and read with getsockopt.",
            ),
            (
                "套接字属性与选项",
                "套接字有地址族（family，AF_INET）、类型（type，SOCK_STREAM 或 SOCK_DGRAM）、绑定地址（getsockname）、\
                 对端地址（getpeername）和文件描述符（fileno，操作系统识别 IO 的唯一编号，0/1/2 是 stdin/stdout/stderr）。\
                 套接字选项如 SO_REUSEADDR（端口可以立即重用）用 setsockopt 设置、getsockopt 读取，最好在创建套接字后立即设置。",
            ),
        ),
        Topic::Broadcast => (
            (
                "broadcast, and broadcast storms",
                "A broadcast is sent once and received by every host of the network segment, \
                 at its largest address (here loopback's 127.255.255.255); SO_BROADCAST must \
                 be set to send one. Every host must process every broadcast, so many of them \
                 make a broadcast storm that eats bandwidth: sockit broadcast send refuses \
                 intervals under 50 ms.",
            ),
            (
                "广播与广播风暴",
                "广播：一点发送，多点接收。广播地址是网段内的最大地址（这里用回环网段的 127.255.255.255），\
                 发送前要设置 SO_BROADCAST。网段内每台主机都要处理每个广播，网络中有大量广播就会产生广播风暴，\
                 占用大量带宽；因此 sockit broadcast send 拒绝小于 50 ms 的发送间隔。",
            ),
        ),
        Topic::Http => (
            (
                "an HTTP request, line by line",
                "HTTP is an application-layer protocol carried over TCP. A request is a request \
                 line (method, path, version), header lines describing it, one empty line, and \
                 an optional body; lines end with CRLF and Content-Length says where the body ends.",
            ),
            (
                "HTTP 请求逐行解析",
                "HTTP（超文本传输协议）是应用层协议，传输层选择 TCP。请求格式：请求行（请求类别、请求内容、协议版本），\
                 请求头（对请求内容的基本描述），空行，然后是请求体（请求参数或提交内容）；每行以 CRLF 结尾，\
                 Content-Length 指出请求体的长度。",
            ),
        ),
        Topic::Homework => (
            (
                "the homework: a file over TCP",
                "sockit send/recv frame the transfer: a name, a size and a BLAKE3 for every \
                 file, checked before the file is kept. The notes' raw protocol (send --raw) \
                 sends only the bytes and closes: no name, no size, no verification, so a \
                 cut-off transfer looks exactly like a complete one.",
            ),
            (
                "作业：通过 TCP 套接字发送文件",
                "sockit send/recv 给传输加上结构：每个文件都带文件名、大小和 BLAKE3 校验值，校验通过才保存。\
                 笔记中的原始协议（send --raw）只发送文件字节然后关闭：没有文件名、没有大小、没有校验，\
                 传输中断的文件看起来和完整的一模一样。",
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locale_picks_the_language() {
        assert_eq!(Lang::from_locale(Some("zh_CN.UTF-8")), Lang::Zh);
        assert_eq!(Lang::from_locale(Some("en_US.UTF-8")), Lang::En);
        assert_eq!(Lang::from_locale(Some("C")), Lang::En);
        assert_eq!(Lang::from_locale(None), Lang::En);
    }

    #[test]
    fn every_lesson_is_explained_in_both_languages() {
        for &topic in Topic::all() {
            let ((en_t, en), (zh_t, zh)) = both(topic);
            assert!(!en_t.is_empty() && !en.is_empty() && !zh_t.is_empty() && !zh.is_empty());
            assert!(!zh.is_ascii(), "{topic:?} has no Chinese text");
        }
    }
}
