package proc

import (
	"errors"
	"fmt"
)

// Close ends the Starter and frees what it holds: the fork server's C
// threads and its collecting goroutine and eventfd, the fork threads, the
// exit watcher's epoll set and goroutine, and the /dev/null fd. It returns
// once the threads and goroutines are gone. From its first call on, Start
// fails with ErrClosed and Run returns at once.
//
// Close requires that Run has returned (or never ran) and that every Process
// this Starter started has been released: the threads that forked a
// leader must outlive it (its parent-death signal fires when they end), and
// its pidfd is in the exit watcher. Short of that it frees nothing and
// returns an error; call it again once the requirement holds. Starts in
// flight when Close is called are waited for, and their Processes count as
// unreleased.
//
// Close is idempotent: once it has freed everything, it returns nil.
func (s *Starter) Close() error {
	s.closeMu.Lock()
	defer s.closeMu.Unlock()
	s.lifeMu.Lock()
	s.closed = true
	running := s.running
	s.lifeMu.Unlock()
	if s.freed {
		return nil
	}
	if running {
		return errors.New("close starter: Run has not returned")
	}
	s.starts.Wait()
	s.regMu.Lock()
	unreleased := len(s.leaders) + len(s.unmanaged)
	s.regMu.Unlock()
	if unreleased > 0 {
		return fmt.Errorf("close starter: %d processes not released", unreleased)
	}

	s.forkMu.Lock()
	server := s.server
	s.server = nil
	s.forkMu.Unlock()
	if server != nil {
		server.close()
	}
	s.threads.close()
	var errs []error
	if err := s.exits.close(); err != nil {
		errs = append(errs, err)
	}
	if s.devNull != nil {
		if err := s.devNull.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close %s: %w", s.devNull.Name(), err))
		}
	}
	s.freed = true
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("close starter: %w", err)
	}
	return nil
}

// enter counts a Start in flight, unless the Starter is closed (ErrClosed).
// The caller calls s.starts.Done when the Start returns.
func (s *Starter) enter() error {
	s.lifeMu.Lock()
	defer s.lifeMu.Unlock()
	if s.closed {
		return ErrClosed
	}
	s.starts.Add(1)
	return nil
}
