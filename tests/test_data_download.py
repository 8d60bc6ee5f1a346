"""Download from a local HTTP server: success, resume after a cut, checksum failure."""
import http.server
import json
import os
import socket
import threading

import pytest

import data_fixtures as fx

NAME = 'cifar-10-python.tar.gz'


class _Server:
    """Serves ``files`` on 127.0.0.1 with Range support; records each request.

    ``cut_first`` sends only half the body of the first response, then drops the
    connection; ``ranges=False`` ignores Range headers (answers 200 in full).
    """

    def __init__(self, files, cut_first=False, ranges=True):
        self.files, self.cut_first, self.ranges, self.requests = files, cut_first, ranges, []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                server.requests.append((self.path, self.headers.get('Range')))
                data = server.files.get(self.path.lstrip('/'))
                if data is None:
                    self.send_error(404)
                    return
                start = 0
                rng = self.headers.get('Range')
                if rng and server.ranges:
                    start = int(rng.split('=')[1].rstrip('-'))
                    self.send_response(206)
                    self.send_header('Content-Range', 'bytes {}-{}/{}'.format(
                        start, len(data) - 1, len(data)))
                else:
                    self.send_response(200)
                self.send_header('Content-Length', str(len(data) - start))
                self.end_headers()
                body = data[start:]
                if server.cut_first and len(server.requests) == 1:
                    body = body[:len(body) // 2]
                self.wfile.write(body)

        self.httpd = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Handler)
        self.url = 'http://127.0.0.1:{}/'.format(self.httpd.server_address[1])
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope='module')
def archive(tmp_path_factory):
    path = fx.cifar10_archive(str(tmp_path_factory.mktemp('src')), n_per_batch=4, n_test=10)
    return open(path, 'rb').read(), fx.md5(path)


@pytest.fixture
def serve(archive):
    servers = []

    def start(**kwargs):
        servers.append(_Server({NAME: archive[0]}, **kwargs))
        return servers[-1]
    yield start
    for s in servers:
        s.close()


def test_download_verify_and_prepare(tmp_path, serve, archive):
    server = serve()
    result = fx.run_dataset_cli('--url', server.url, '--md5', archive[1], '--out', tmp_path)
    assert result.returncode == 0, result.stderr
    assert 'MB' in result.stderr  # the progress bar
    assert (tmp_path / NAME).read_bytes() == archive[0]
    assert not (tmp_path / (NAME + '.part')).exists()
    manifest = json.loads((tmp_path / 'manifest.json').read_text())
    assert manifest['sources'][NAME]['md5_verified'] and manifest['n_train'] == 20
    assert server.requests == [('/' + NAME, None)]
    again = fx.run_dataset_cli('--url', server.url, '--md5', archive[1], '--out', tmp_path)
    assert 'up to date' in again.stdout and len(server.requests) == 1


def test_resume_after_cut_connection(tmp_path, serve, archive):
    server = serve(cut_first=True)
    result = fx.run_dataset_cli('--url', server.url, '--md5', archive[1], '--out', tmp_path,
                                '--retries', '2', '--quiet')
    assert result.returncode == 0, result.stderr
    half = len(archive[0]) // 2
    assert server.requests == [('/' + NAME, None), ('/' + NAME, 'bytes={}-'.format(half))]
    assert (tmp_path / NAME).read_bytes() == archive[0]


@pytest.mark.parametrize('ranges', [True, False], ids=['range', 'server-ignores-range'])
def test_resume_partial_file_from_earlier_run(tmp_path, serve, archive, ranges):
    server = serve(ranges=ranges)
    (tmp_path / (NAME + '.part')).write_bytes(archive[0][:1000])
    result = fx.run_dataset_cli('--url', server.url, '--md5', archive[1], '--out', tmp_path,
                                '--quiet')
    assert result.returncode == 0, result.stderr
    assert server.requests == [('/' + NAME, 'bytes=1000-')]
    assert (tmp_path / NAME).read_bytes() == archive[0]


def test_checksum_failure_keeps_nothing(tmp_path, serve):
    server = serve()
    out = tmp_path / 'out'
    result = fx.run_dataset_cli('--url', server.url, '--out', out, '--quiet',
                                '--md5', '0123456789abcdef0123456789abcdef')
    assert result.returncode != 0
    line, = result.stderr.strip().splitlines()
    assert server.url + NAME in line and '0123456789abcdef0123456789abcdef' in line
    assert '--archive' in line
    assert os.listdir(out) == [] if out.exists() else True


def test_not_found_names_url(tmp_path, serve):
    server = serve()
    result = fx.run_dataset_cli('--dataset', 'mnist', '--url', server.url + 'mirror/',
                                '--out', tmp_path / 'out', '--quiet')
    assert result.returncode != 0
    line, = result.stderr.strip().splitlines()
    assert server.url + 'mirror/train-images-idx3-ubyte.gz' in line and 'HTTP 404' in line
    assert '--archive' in line and not (tmp_path / 'out').exists()


def test_unreachable_host_names_url_and_archive(tmp_path):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
    url = 'http://127.0.0.1:{}/'.format(port)
    result = fx.run_dataset_cli('--url', url, '--retries', '0', '--out', tmp_path / 'out',
                                '--quiet')
    assert result.returncode != 0
    line, = result.stderr.strip().splitlines()
    assert url + NAME in line and '--archive' in line
